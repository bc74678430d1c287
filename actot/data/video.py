"""Decode camera frames (video files via PyAV, or images stored in parquet) at given timestamps.

Frames come back as uint8 arrays (T, H, W, 3) already resized to the working resolution, so
that the on-disk frame cache (`FrameCache` in `lerobot.py`) stores what training reads.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from actot.errors import ActotError

TIMESTAMP_TOLERANCE_S = 1e-4  # LeRobot's tolerance_s for matching frames to timestamps


def decode_video_frames(path: Path, timestamps: np.ndarray, size: tuple[int, int], offset_s: float = 0.0) -> np.ndarray:
    """Frames of `path` at `offset_s + timestamps` (seconds), resized to `size` = (H, W).

    One sequential decode from the keyframe before the first wanted frame to the last one:
    in LeRobot v3.0 one file holds many episodes, and `offset_s` is the episode's
    `from_timestamp` in that file.
    """
    import av  # only video datasets need PyAV (image-feature datasets, the embedded sim included, do not)
    import av.video.reformatter

    if not path.is_file():
        raise ActotError(
            f"video file missing: {path}; restore it, or select other episodes/cameras "
            "(data.cameras=[] loads state and action only)"
        )
    height, width = size
    wanted = np.asarray(timestamps, dtype=np.float64) + offset_s
    out = np.zeros((len(wanted), height, width, 3), dtype=np.uint8)
    found = np.zeros(len(wanted), dtype=bool)
    if len(wanted) == 0:
        return out
    order = np.argsort(wanted)
    last = wanted[order[-1]]
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if wanted[order[0]] > 0.5:
                container.seek(int(wanted[order[0]] / stream.time_base), stream=stream, backward=True)
            reformatter = av.video.reformatter.VideoReformatter()  # reused: a new one per frame costs 10x
            cursor = 0
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base)
                while cursor < len(order) and wanted[order[cursor]] < t - TIMESTAMP_TOLERANCE_S:
                    cursor += 1  # a wanted time with no frame: reported below
                if cursor < len(order) and abs(wanted[order[cursor]] - t) <= TIMESTAMP_TOLERANCE_S:
                    image = reformatter.reformat(
                        frame, width=width, height=height, format="rgb24", interpolation="AREA"
                    )
                    pixels = image.to_ndarray()
                    # Several wanted timestamps may fall on the same frame (duplicates).
                    while cursor < len(order) and abs(wanted[order[cursor]] - t) <= TIMESTAMP_TOLERANCE_S:
                        out[order[cursor]] = pixels
                        found[order[cursor]] = True
                        cursor += 1
                if t > last + TIMESTAMP_TOLERANCE_S or cursor >= len(order):
                    break
    except av.error.FFmpegError as err:
        raise ActotError(f"cannot decode video {path}: {err}; re-encode or remove the file") from err
    if not found.all():
        missing = wanted[~found][0]
        raise ActotError(
            f"video {path} has no frame at t={missing:.4f}s (tolerance {TIMESTAMP_TOLERANCE_S}s); "
            "the video and the parquet timestamps disagree: re-encode the video"
        )
    return out


def decode_image_column(values: list, size: tuple[int, int], where: str) -> np.ndarray:
    """Decode LeRobot `image` features (a struct of PNG/JPEG bytes per frame) and resize them.

    The resize is `resize_frames`, the one closed-loop evaluation applies to rendered frames,
    so a lossless dataset trains on exactly what a rollout shows the policy.
    """
    from PIL import Image

    decoded = []
    for i, value in enumerate(values):
        data = value.get("bytes") if isinstance(value, dict) else value
        if not data:
            raise ActotError(
                f"{where}: frame {i} has no image bytes; the dataset stores images by path, re-export it with embedded images"
            )
        decoded.append(resize_frames(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[None], size)[0])
    return np.stack(decoded) if decoded else np.zeros((0, *size, 3), dtype=np.uint8)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resize uint8 frames (N, H, W, 3) to `size`: block means when the factor is whole."""
    n, h, w, c = frames.shape
    height, width = size
    if (h, w) == (height, width):
        return frames
    if h % height == 0 and w % width == 0:
        fh, fw = h // height, w // width
        blocks = frames.reshape(n, height, fh, width, fw, c).astype(np.float32)
        return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.BILINEAR)) for f in frames])
