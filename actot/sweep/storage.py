"""Where a sweep keeps its state: a local folder, a shared mount, or object storage (S3).

    storage=sweeps_out                                   # a folder (a shared mount on a cluster)
    storage='s3://bucket/prefix?endpoint_override=http://127.0.0.1:9000&region=us-east-1'

With a folder, everything lives in `storage/NAME/`: the driver's files (sweep.json,
results.parquet, optuna.db, driver.lock, report, dashboard), Ray's state and checkpoints, and
each trial's folder `trials/<id>/`.

With `s3://`, the object store is the truth and nothing needs a shared disk:
- Ray writes its experiment state and the trials' checkpoints to `s3://bucket/prefix/NAME/`
  itself (through the pyarrow filesystem built here, so the endpoint override reaches it);
- the driver works in a local mirror, `$ACTOT_CACHE/sweeps/<hash of the URI>/NAME/`, because
  SQLite, flock and atomic renames need a real disk. It pulls the sweep's files from S3 before
  it starts (so `resume=true` works from any machine) and pushes them after every write;
  `driver.lock` stays local (S3 has no locks: do not run two drivers on one prefix);
- each trial trains in a folder on its own node and uploads that folder (history, summary,
  W&B offline run; not the checkpoint, which Ray stores) to `NAME/trials/<id>/` when it ends;
  the driver then pulls its history into the mirror, and the index takes the trial's steps from
  it (a trial resumed from a checkpoint reported only the steps after it).

The query string is pyarrow's: `endpoint_override`, `region`, `scheme`, ...; credentials come
from the usual AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`) on every node.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from actot.errors import ActotError
from actot.sweepdir import DRIVER_FILES  # pulled before a sweep starts, pushed after each write
from actot.sweepdir import TRIAL_HISTORY, trial_dir


def is_uri(storage: str | None) -> bool:
    return isinstance(storage, str) and "://" in storage


def join_uri(uri: str, *parts: str) -> str:
    """`s3://b/p?q` + `name` -> `s3://b/p/name?q` (the query stays at the end)."""
    split = urlsplit(uri)
    path = "/".join([split.path.rstrip("/"), *parts])
    return urlunsplit((split.scheme, split.netloc, path, split.query, ""))


def filesystem(uri: str):
    """(pyarrow filesystem, path inside it) for `uri`; a one-line error when pyarrow cannot use it."""
    import pyarrow.fs as pafs

    if any(k in urlsplit(uri).query for k in ("access_key", "secret_key", "session_token")):
        raise ActotError(
            "storage=: credentials in the URI would be printed and stored in sweep.json; remove them "
            "from the URI and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY on every node instead"
        )
    split = urlsplit(uri)
    if split.scheme == "s3" and "allow_delayed_open" not in split.query:
        # One PUT for a small object instead of a multipart upload (moto's server fails pyarrow 26's multipart
        # completion); pyarrow before 16 lacks the option, so without it there.
        delayed = urlunsplit(
            (
                split.scheme,
                split.netloc,
                split.path,
                "&".join(filter(None, [split.query, "allow_delayed_open=true"])),
                "",
            )
        )
        try:
            return pafs.FileSystem.from_uri(delayed)
        except Exception:  # noqa: BLE001 - retried below without the option, where errors are reported
            pass
    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a bad URI
        raise ActotError(
            f"storage={uri}: not a storage pyarrow can open ({str(err).splitlines()[0]}); use a folder or "
            "s3://bucket/prefix?endpoint_override=http://HOST:PORT&region=REGION"
        ) from err


def local_mirror(storage_uri: str, name: str) -> Path:
    """The driver's local copy of a sweep kept in object storage."""
    base = Path(os.environ.get("ACTOT_CACHE", Path.home() / ".cache" / "actot")).expanduser()
    key = hashlib.sha1(storage_uri.encode()).hexdigest()[:12]
    return (base / "sweeps" / key / name).resolve()


class RemoteSweep:
    """The object-storage side of a sweep folder: pull and push the driver's files."""

    def __init__(self, storage_uri: str, name: str, local_dir: Path):
        self.uri = join_uri(storage_uri, name)
        self.fs, self.path = filesystem(self.uri)
        self.storage_fs, self.storage_path = filesystem(storage_uri)
        self.local_dir = Path(local_dir)

    def check_writable(self) -> None:
        probe = f"{self.path}/.write-test-{os.getpid()}"
        try:
            with self.fs.open_output_stream(probe) as out:
                out.write(b"ok")
            self.fs.delete_file(probe)
        except Exception as err:  # noqa: BLE001 - network, credentials, missing bucket: all one line
            raise ActotError(
                f"storage={self.uri}: cannot write there ({str(err).splitlines()[0]}); check the bucket, "
                "the endpoint_override and the AWS credentials"
            ) from err

    def exists(self, name: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(f"{self.path}/{name}").type == pafs.FileType.File

    def refresh_mirror(self) -> list[str]:
        """Replace the mirror's files with the store's (the mirror may be older); return the names pulled."""
        for name in DRIVER_FILES:
            (self.local_dir / name).unlink(missing_ok=True)
        return self.pull()

    def pull(self) -> list[str]:
        """Copy the driver's files that exist in storage into the local mirror; return their names."""
        import pyarrow.fs as pafs

        self.local_dir.mkdir(parents=True, exist_ok=True)
        got = []
        for name in DRIVER_FILES:
            info = self.fs.get_file_info(f"{self.path}/{name}")
            if info.type != pafs.FileType.File:
                continue
            self._download(info.path, self.local_dir / name)
            got.append(name)
        return got

    def pull_trial(self, trial_id: str) -> bool:
        """A trial's history.parquet as the trial uploaded it when it ended (`upload_trial_folder`), into the
        mirror's `trials/<id>/`, where the index completes the trial's steps from (`ResultsStore.finish`): a trial
        resumed from a checkpoint reports only the steps after it, and only its history has those before. Return
        whether there was one; without one no older copy stays in the mirror."""
        import pyarrow.fs as pafs

        local = trial_dir(self.local_dir, trial_id) / TRIAL_HISTORY
        local.unlink(missing_ok=True)
        info = self.fs.get_file_info(f"{self.path}/trials/{trial_id}/{TRIAL_HISTORY}")
        if info.type != pafs.FileType.File:
            return False
        local.parent.mkdir(parents=True, exist_ok=True)
        self._download(info.path, local)
        return True

    def _download(self, path: str, local: Path) -> None:
        tmp = local.with_name(f".{local.name}.pull")
        with self.fs.open_input_stream(path) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.replace(tmp, local)

    def push(self) -> None:
        """Upload the driver's files from the local mirror (each object is replaced whole)."""
        for name in DRIVER_FILES:
            local = self.local_dir / name
            if local.is_file():
                with open(local, "rb") as src, self.fs.open_output_stream(f"{self.path}/{name}") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)


def open_remote(storage_uri: str, name: str, resume: bool) -> RemoteSweep:
    """The sweep NAME in object storage, checked writable, and present exactly when resuming."""
    remote = RemoteSweep(storage_uri, name, local_mirror(storage_uri, name))
    remote.check_writable()
    if resume and not remote.exists("sweep.json"):
        raise ActotError(f"resume=true but {remote.uri} holds no sweep.json; pass the name= of an earlier sweep")
    if not resume and remote.exists("sweep.json"):
        raise ActotError(f"{remote.uri} already holds a sweep; add resume=true to continue it, or pick another name=")
    return remote


def upload_trial_folder(sweep_uri: str, trial_id: str, folder: Path) -> None:
    """A trial's own folder to `<sweep>/trials/<id>/`, its checkpoint left out (Ray keeps that)."""
    fs, path = filesystem(sweep_uri)
    folder = Path(folder)
    for file in folder.rglob("*"):
        rel = file.relative_to(folder)
        if not file.is_file() or rel.parts[0] == "checkpoint":
            continue
        with open(file, "rb") as src, fs.open_output_stream(f"{path}/trials/{trial_id}/{rel.as_posix()}") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
