"""tensorboardX's SummaryWriter, made to fail loudly instead of hanging when its file cannot be written.

tensorboardX writes events from a background thread fed by a bounded queue. When a write fails (a full
disk) that thread dies with a traceback, the queue fills, and the next `add_scalar` blocks forever: the
training loop hangs at 0% CPU and cannot even honour SIGTERM. Here events go straight into the file's
buffer from the caller's thread (no queue to fill, and `flush` then writes every event logged so far),
and a failed write or flush, in either thread, is recorded: the next call from the training loop raises
a `WriteError` naming the events file.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tensorboardX import SummaryWriter

from maddpg_gail.files import WriteError


class EventLog(SummaryWriter):
    def __init__(self, logdir: Path):
        self._failure: OSError | None = None
        self._failure_lock = threading.Lock()
        self._guarded: set[int] = set()
        super().__init__(str(logdir))

    def _guard(self, file_writer) -> None:
        """Write events synchronously, and wrap the EventsWriter's file operations so that an OSError is
        recorded instead of raised (the background thread's periodic flush would die of it)."""
        event_file_writer = file_writer.event_writer
        events_writer = event_file_writer._ev_writer
        if id(events_writer) in self._guarded:
            return
        self._guarded.add(id(events_writer))
        self.path = Path(events_writer._file_name)

        def guarded(operation, closing: bool = False):
            def call(*args, **kwargs):
                # The file is broken: drop the event, the loop is told already. Closing is still tried, so
                # the file is not left for the garbage collector, whose failed flush would print a traceback.
                if self._failure is not None and not closing:
                    return None
                try:
                    return operation(*args, **kwargs)
                except OSError as error:
                    with self._failure_lock:
                        self._failure = self._failure or error
                    return None
            return call

        for name in ("_write_serialized_event", "flush", "close"):
            setattr(events_writer, name, guarded(getattr(events_writer, name), closing=name == "close"))

        def add_event(event) -> None:
            if not event_file_writer._closed:
                events_writer.write_event(event)  # EventsWriter's own lock orders it with the thread's flushes

        event_file_writer.add_event = add_event

    def _get_file_writer(self):
        writer = super()._get_file_writer()
        self._guard(writer)
        self.raise_if_failed()  # every add_* goes through here
        return writer

    def raise_if_failed(self) -> None:
        if self._failure is not None:
            error = self._failure
            raise WriteError(f"{self.path}: not written ({error.strerror or error}); training stopped, "
                             f"the last checkpoint is intact")

    def flush(self) -> None:
        """Write the queued events now (e.g. before a checkpoint, so a kill -9 after it loses none of them)."""
        super().flush()
        self.raise_if_failed()

    def close(self, raise_failure: bool = True) -> None:
        """Close the file; with `raise_failure` False (cleaning up after another error) a failed write is
        not raised, so that it does not replace the error that stopped training."""
        super().close()
        if raise_failure:
            self.raise_if_failed()
