"""Checkpoint files: written atomically, read with clear errors.

A write goes to a temporary file in the same folder and is renamed over the target, so a
crash, a full disk or a kill mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it vanishes."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format_version": FORMAT_VERSION, **state}, tmp)


def find_checkpoint(run_dir_or_file: Path) -> Path:
    path = Path(run_dir_or_file)
    if path.is_dir():
        path = path / "checkpoints" / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there (expected a run folder or a .pt checkpoint file)")
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True` (no arbitrary code), naming the file on any failure."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or "format_version" not in state or "config" not in state:
        raise CheckpointError(f"{path}: not a maddpg-gail checkpoint (no format_version/config)")
    if state["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {state['format_version']} is not the supported {FORMAT_VERSION}"
        )
    return state
