"""A run folder's ownership: one writer at a time, and --overwrite that deletes only what a run wrote.

The lock is an OS lock (`fcntl.flock`) on `RUN_LOCK` inside the folder. The kernel drops it when its
process ends, however it ends (kill -9 included), so a crashed run never leaves a stale lock behind; and
the file is never deleted while held, so a second process always locks the same file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

RUN_LOCK = ".lock"
CONFIG_NAME = "config.json"
# What a run of this toolkit writes in its folder; --overwrite deletes these and nothing else.
RUN_FILES = ("config.json", "metrics.csv", "final_eval.json", "train.log")
RUN_FOLDERS = ("checkpoints", "gifs")
EVENTS_PREFIX = "events.out.tfevents."


class RunFolderError(Exception):
    """A run folder this process may not write: in use by another process, or not a run to overwrite."""


# Locks this process holds: path -> [file descriptor, holders]. flock locks belong to an open file, so a
# second open of the same lock file in this process would block on the first; nested holders share one.
_held: dict[Path, list[int]] = {}


def _key(run_dir: Path) -> Path:
    return Path(os.path.abspath(run_dir))


def holds(run_dir: Path) -> bool:
    return _key(run_dir) in _held


@contextmanager
def locked(run_dir: Path) -> Iterator[Path]:
    """Hold the run folder's lock (creating the folder) while the block runs; RunFolderError if another
    process holds it. Re-entrant within a process."""
    key = _key(run_dir)
    if key in _held:
        _held[key][1] += 1
        try:
            yield run_dir
        finally:
            _held[key][1] -= 1
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(key / RUN_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = lock_holder(os.fstat(fd).st_ino)
        os.close(fd)
        if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        by = f"process {holder}" if holder else "another process"
        raise RunFolderError(f"{run_dir} is in use by {by}; one run writes to a folder at a time") from None
    _held[key] = [fd, 1]
    try:
        yield run_dir
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            del _held[key]
            os.close(fd)  # releases the lock


def lock_holder(inode: int) -> int | None:
    """The process holding the flock on the file of this inode, from Linux's /proc/locks; None elsewhere.

    (The file itself stays unwritten: a refused --resume must leave every file of the run as it was.)
    """
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 7458 08:01:1234 0 EOF"
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            return int(fields[4]) if fields[4].isdigit() else None
    return None


def is_empty(run_dir: Path) -> bool:
    return not run_dir.exists() or all(p.name == RUN_LOCK for p in run_dir.iterdir())


def run_entries(run_dir: Path) -> list[Path]:
    """The files and folders in `run_dir` that a run wrote."""
    return [p for p in run_dir.iterdir()
            if (p.name in RUN_FILES and p.is_file()) or (p.name in RUN_FOLDERS and p.is_dir())
            or (p.name.startswith(EVENTS_PREFIX) and p.is_file())]


def check_new_run_dir(run_dir: Path, overwrite: bool, resumable: bool = True) -> None:
    """A new run may start in `run_dir`: it is missing or empty, or `overwrite` and it is a run's folder.
    (`resumable`: whether the refusal may suggest --resume; a behaviour-cloning run has nothing to resume.)

    Touches nothing: a refused folder must not even gain a lock file.
    """
    if is_empty(run_dir):
        return
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a folder")
    if not overwrite:
        raise RunFolderError(f"{run_dir} exists and is not empty; use {'--resume or ' if resumable else ''}--overwrite")
    if not (run_dir / CONFIG_NAME).is_file():
        raise RunFolderError(f"{run_dir} is not a run folder (no {CONFIG_NAME}), so --overwrite leaves it alone; "
                             f"choose another --run-dir")


def clear(run_dir: Path) -> None:
    """Delete what a run wrote in `run_dir` (its lock held), leaving its lock file and anything else."""
    if not holds(run_dir):
        raise RuntimeError(f"{run_dir}: clearing a run folder needs its lock, or another writer's files would go")
    for path in run_entries(run_dir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


@contextmanager
def new_run(run_dir: Path, overwrite: bool = False, resumable: bool = True) -> Iterator[Path]:
    """Hold `run_dir` for a new run: refused (RunFolderError, one line) when it holds files and is not a run
    to overwrite, or when another process is writing it; with `overwrite`, the old run's files go first."""
    check_new_run_dir(run_dir, overwrite, resumable)
    with locked(run_dir):
        # again: a run may have started and ended between the first check and the lock
        check_new_run_dir(run_dir, overwrite, resumable)
        clear(run_dir)
        yield run_dir


def read_config(run_dir: Path):
    """The Config in `run_dir`/config.json, each value checked against its field's rule; RunFolderError (one
    line, naming the file and the field) otherwise. The one reader of a run's config, for resume and report
    alike: a field the file lacks reads as its default, because a field added to Config after a run was made
    defaults to what the code did before it (a partial file of this version still has to match the run's
    checkpoint, which records the whole config)."""
    from maddpg_gail import config as settings

    path = Path(run_dir) / CONFIG_NAME
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path}: not a readable config ({type(error).__name__}: {error})") from None
    if not isinstance(values, dict):
        raise RunFolderError(f"{path}: holds {json.dumps(values)[:40]}, not a config (a JSON object)")
    try:
        return settings.Config.from_saved(values)
    except settings.ConfigError as error:
        raise RunFolderError(f"{path}: {error}") from None
