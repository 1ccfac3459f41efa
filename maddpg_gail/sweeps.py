"""Sweeps: train every (variant, seed) pair into out/<variant>__s<seed>/, each a normal run folder, locally
(a process pool) or on Ray; rerunning a sweep keeps finished runs and resumes partial ones.

    sweep(config, variants, seeds, out, ...)

Changes here when the way runs are scheduled, logged, interrupted or shipped changes.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tarfile
import tempfile
import traceback
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from maddpg_gail import run_folder, trainer
from maddpg_gail.checkpoint import CHECKPOINT_NAME, load_checkpoint
from maddpg_gail.config import Config
from maddpg_gail.reports import FINAL_EVAL_EPISODES, final_evaluation
from maddpg_gail.variants import CompareError, VariantSpec, needing_demos, run_name


LOG_NAME = "train.log"


def default_compare_dir(config: Config, root: Path = Path("runs")) -> Path:
    return root / f"compare__{config.scenario}__{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run_state(run_dir: Path, config: Config) -> str:
    """"missing", "partial" (resumable from its checkpoint) or "finished" for a sweep's run folder.

    A folder trained with other settings is an error: resuming or replacing it would mix two experiments.
    A behaviour-cloning run (0 episodes) saves its checkpoint last, so it is finished or missing, never partial.
    """
    checkpoint = run_dir / "checkpoints" / CHECKPOINT_NAME
    if not checkpoint.is_file():
        return "missing"
    state = load_checkpoint(checkpoint)
    recorded = Config.from_saved(state["config"]).to_dict()
    differing = [f"{k} {recorded[k]!r}, not {getattr(config, k)!r}" for k in config.differences(recorded)]
    if differing:
        raise CompareError(f"{run_dir} was trained with other settings ({', '.join(differing)}); choose another --out")
    return "finished" if state["counters"]["episodes"] >= config.episodes else "partial"


@contextmanager
def output_to(log_path: Path, clear_first: bool = False) -> Iterator[None]:
    """Send this process's file descriptors 1 and 2 (progress bars, C libraries too) to a log file.

    Runs side by side would otherwise interleave their progress bars on one terminal. `clear_first`: the
    leftovers of a run stopped before its first checkpoint (nothing there to resume) go first, the log too.
    """
    if clear_first:
        run_folder.clear(log_path.parent)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with log_path.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            traceback.print_exc()
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, original in zip((1, 2), saved):
                os.dup2(original, fd)
                os.close(original)


_stop_requested = False  # a pool worker got SIGINT/SIGTERM: idle, or training (where the trainer handled it)


def _note_stop(signum, frame) -> None:
    global _stop_requested
    _stop_requested = True


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), even of kill -9.

    A worker that outlived its sweep would go on training its queued runs unseen, beside a rerun of the
    same sweep. SIGKILL, not SIGTERM: a worker ignores SIGTERM while idle (see `_init_pool_worker`), and
    checkpoint writes are atomic, so a kill mid-write leaves the previous checkpoint whole.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent died before the kernel was told to watch it
        os._exit(1)


def _init_pool_worker(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # An idle worker that died of Ctrl-C would break the pool, which then kills the busy workers before
    # they save their checkpoints; so idle workers only take note.
    signal.signal(signal.SIGINT, _note_stop)
    signal.signal(signal.SIGTERM, _note_stop)


def train_pair(config: dict[str, Any], run_dir: str, final_eval_episodes: int) -> str:
    """Train (or resume) one run to its episodes, then evaluate its final policy; runs in a worker.

    A run of 0 episodes is behaviour cloning: a few seconds, not interrupted (a signal stops what follows it).
    Returns what became of it: trained, resumed, kept (another process had finished it) or interrupted (a
    signal stopped it early; its checkpoint is then saved).
    """
    global _stop_requested
    torch.set_num_threads(1)  # one core per run: the runs of a sweep share the machine
    if _stop_requested:  # a signal reached this worker before: start nothing new
        return "interrupted"
    config, run_dir = Config.from_dict(config), Path(run_dir)
    try:
        result = _train_locked(config, run_dir, final_eval_episodes)
    except KeyboardInterrupt:  # a second Ctrl-C: the pairs already queued to this worker must not start either
        _stop_requested = True
        raise
    if result == "interrupted":  # stopped by a signal: the same
        _stop_requested = True
    return result


def _train_locked(config: Config, run_dir: Path, final_eval_episodes: int) -> str:
    # The lock first: a rerun of a sweep whose workers still train (its parent killed) must not touch their folders.
    with run_folder.locked(run_dir):
        # The folder's state once more, under the lock: what the sweep saw when it began may be stale by now (another
        # process may have trained here meanwhile), and a run taken for missing starts by clearing its folder.
        state = run_state(run_dir, config)
        if state == "finished":
            final_evaluation(run_dir, final_eval_episodes)
            return "kept"
        with output_to(run_dir / LOG_NAME, clear_first=state == "missing"):
            if config.episodes == 0:
                trainer.clone(config, run_dir)
                completed = True
            elif state == "partial":
                _, completed = trainer.resume(run_dir, config.episodes)
            else:
                _, completed = trainer.train(config, run_dir)
            if not completed:
                return "interrupted"
            final_evaluation(run_dir, final_eval_episodes)
    return "resumed" if state == "partial" else "trained"


@contextmanager
def sigterm_forwarded() -> Iterator[None]:
    """SIGTERM to the sweep (kill, a job scheduler) reaches the workers too, and stops the sweep like Ctrl-C."""

    stopping = False

    def forward(signum, frame) -> None:
        nonlocal stopping
        for child in multiprocessing.active_children():
            child.terminate()  # the trainer takes SIGTERM as "save a checkpoint and stop"
        if not stopping:  # a repeated SIGTERM must not break the sweep's wait for its workers' checkpoints
            stopping = True
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def outcome(name: str, result: str | None = None, error: BaseException | None = None, log_hint: str = "") -> str:
    """What became of one pair (`train_pair`'s word, else interrupted or failed), printed as it becomes known."""
    if error is not None and not isinstance(error, KeyboardInterrupt):  # KeyboardInterrupt: a second Ctrl-C
        print(f"{name}: failed: {type(error).__name__}: {error}{log_hint}", file=sys.stderr)
        return "failed"
    result = result or "interrupted"
    print(f"{name}: {result}" + (" (another process finished it meanwhile)" if result == "kept" else ""))
    return result


def settled(name: str, future: Future, out: Path) -> str:
    if future.cancelled():  # never started
        return outcome(name)
    error = future.exception()
    return outcome(name, None if error else future.result(), error, log_hint=f" (traceback in {out / name / LOG_NAME})")


def run_locally(pending: dict[str, tuple[Config, bool]], out: Path, workers: int,
                final_eval_episodes: int) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    workers = min(workers, len(pending))
    print(f"compare: {len(pending)} run(s) to train in {out}, {workers} at a time (each logs to its {LOG_NAME})")
    # spawn: a fresh interpreter per worker, no forked torch thread pools or locks
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker,
                             initargs=(os.getpid(),)) as pool, \
            sigterm_forwarded():
        futures = {
            pool.submit(train_pair, config.to_dict(), str(out / name), final_eval_episodes): name
            for name, (config, _) in pending.items()
        }
        try:
            for future in as_completed(futures):
                name = futures[future]
                outcomes[name] = settled(name, future, out)
        except KeyboardInterrupt:
            # Ctrl-C reached the busy workers too (one process group): they save a checkpoint and return.
            print("compare: interrupted; waiting for the running runs to save their checkpoints", file=sys.stderr)
            pool.shutdown(cancel_futures=True)
            for future, name in futures.items():
                if name not in outcomes:
                    outcomes[name] = settled(name, future, out)
    return outcomes


def pack_run(run_dir: Path) -> bytes:
    """A run folder as an uncompressed tar: its checkpoint's float arrays barely compress."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(run_dir, arcname="run")
    return buffer.getvalue()


def unpack_run(packed: bytes, run_dir: Path) -> None:
    """Replace run_dir by a packed run folder, unpacked beside it first so a failure leaves the old one whole."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
            tar.extractall(staging, filter="data")
        shutil.rmtree(run_dir, ignore_errors=True)
        (staging / "run").rename(run_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def train_pair_packed(config: dict[str, Any], name: str, packed: bytes | None,
                      final_eval_episodes: int) -> tuple[str, bytes]:
    """`train_pair` in a temporary folder of a Ray worker; returns (its outcome, the run folder packed)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / name
        if packed is not None:
            unpack_run(packed, run_dir)
        result = train_pair(config, str(run_dir), final_eval_episodes)
        return result, pack_run(run_dir)


RAY_CONNECT_TIMEOUT_S = 10


def check_reachable(address: str, timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """A Ray address that no one listens on makes `ray.init` retry for many minutes; a plain TCP connection
    to it first fails in `timeout_s` at most. "auto" (a cluster found from this machine) is left to Ray."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise CompareError(f"--ray-address {address}: not HOST:PORT (e.g. 10.0.0.5:6379) or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        reason = f"no answer in {timeout_s:g} s" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise CompareError(f"--ray-address {address}: no Ray cluster reachable there ({reason})") from None


def run_on_ray(pending: dict[str, tuple[Config, bool]], out: Path, address: str,
               final_eval_episodes: int) -> dict[str, str]:
    check_reachable(address)
    import ray  # optional: requirements-ray.txt

    import envs
    import maddpg_gail

    # The workers import the toolkit from these uploaded packages: cluster nodes need only requirements.txt.
    try:
        ray.init(address=address, runtime_env={"py_modules": [envs, maddpg_gail]})
    except ConnectionError as error:
        raise CompareError(f"--ray-address {address}: {error}") from None
    print(f"compare: {len(pending)} run(s) sent to Ray at {address}; results are collected into {out}")
    train_remote = ray.remote(num_cpus=1)(train_pair_packed)
    tasks = {}
    for name, (config, partial) in pending.items():
        packed = pack_run(out / name) if partial else None
        tasks[train_remote.remote(config.to_dict(), name, packed, final_eval_episodes)] = name
    outcomes: dict[str, str] = {}
    try:
        remaining = list(tasks)
        while remaining:
            [ref], remaining = ray.wait(remaining)
            name = tasks[ref]
            try:
                result, packed = ray.get(ref)
            except ray.exceptions.RayError as error:  # its message carries the worker's traceback
                outcomes[name] = outcome(name, error=error)
                continue
            unpack_run(packed, out / name)
            outcomes[name] = outcome(name, result)
    except KeyboardInterrupt:
        # Leaving the driver ends its Ray tasks: runs not collected yet start over when the sweep is rerun.
        print("compare: interrupted; runs already collected are kept", file=sys.stderr)
        outcomes.update({name: "interrupted" for name in tasks.values() if name not in outcomes})
    finally:
        ray.shutdown()
    return outcomes


def sweep(base: Config, variants: list[str | VariantSpec], seeds: Iterable[int], out: Path, workers: int = 1,
          ray_address: str | None = None, final_eval_episodes: int = FINAL_EVAL_EPISODES) -> dict[str, str]:
    """Train every (variant, seed) pair into out/<variant>__s<seed>/; returns each pair's outcome.

    Finished runs (checkpoint at the target episodes) are kept, partial ones resume from their
    checkpoint, missing ones start: rerunning an interrupted sweep with the same `out` completes it.
    Outcomes: kept, trained, resumed, interrupted, failed.
    """
    variants = [VariantSpec(v) if isinstance(v, str) else v for v in variants]
    if base.demos is None and needing_demos(variants):
        raise CompareError(f"{', '.join(needing_demos(variants))} need expert demonstrations "
                           f"(config.demos)")
    outcomes: dict[str, str] = {}
    pending: dict[str, tuple[Config, bool]] = {}
    for variant in variants:
        for seed in seeds:
            name, config = run_name(variant.name, seed), variant.config(base, seed)
            state = run_state(out / name, config)
            if state == "finished":
                outcomes[name] = "kept"
                print(f"{name}: kept (finished before)")
            else:
                pending[name] = (config, state == "partial")
    if pending and ray_address is not None:
        outcomes.update(run_on_ray(pending, out, ray_address, final_eval_episodes))
    elif pending:
        outcomes.update(run_locally(pending, out, workers, final_eval_episodes))
    return outcomes
