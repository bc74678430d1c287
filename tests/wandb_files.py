"""Reading what an offline W&B run wrote (its `run-ID.wandb` file), for tests that check what reached W&B."""

import json
import struct
from pathlib import Path


def wandb_records(path: Path):
    """The records of an offline W&B run file (`run-ID.wandb`: a LevelDB-style log of protobuf records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    buf, pos, parts = path.read_bytes(), 7, b""
    assert buf[:4] == b":W&B"
    while pos + 7 <= len(buf):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", buf[pos : pos + 7])
        data, pos = buf[pos + 7 : pos + 7 + length], pos + 7 + length
        parts = data if kind in (1, 2) else parts + data
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(parts)
            yield record


def wandb_summary(trial_dir: Path) -> dict:
    """Every summary value the offline W&B runs under `trial_dir`/wandb recorded (later runs win): a trial's, or the
    sweep folder's ranking run."""
    out = {}
    for path in sorted(trial_dir.glob("wandb/offline-run-*/run-*.wandb")):
        for record in wandb_records(path):
            if record.WhichOneof("record_type") == "summary":
                out.update({u.key: json.loads(u.value_json) for u in record.summary.update if u.key})
    return out
