"""Files written atomically: a write goes to a temporary file beside its target and is renamed over it, so a
crash, a full disk or a kill mid-write leaves the previous version whole. Every file the project writes into a
run folder, a dataset or a report goes through `atomic_path`."""

from __future__ import annotations

import glob
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class WriteError(OSError):
    """A file that could not be written; the message names it, and its previous version is left as it was."""


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it vanishes.

    An OSError on the way (a full disk, a missing folder) becomes a `WriteError` naming `path`.
    """
    path = Path(path)
    # The writer creates the file, so it gets the usual permissions (mkstemp's would be owner-only).
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())  # on disk before it replaces the previous version, even on a power cut
        os.replace(tmp, path)
    except OSError as error:
        raise WriteError(f"{path}: not written ({error.strerror or error}); its previous version is intact") from error
    finally:
        tmp.unlink(missing_ok=True)
    remove_leftovers(path)


def remove_leftovers(path: Path) -> None:
    """The temporary files of earlier writes of `path` that a kill -9 left behind: this write succeeded, so
    no other is in progress (one writer per run folder, see run_folder.py)."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        leftover.unlink(missing_ok=True)
