"""No run lost, no hang, no silent corruption (issue 15): one section per item of the issue.

Every test here was watched failing with its protection removed (see docs/failure-handling.md).
"""

import csv
import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import main
from conftest import TINY_CONFIG
from maddpg_gail import load_policy, reports, run_folder, sweeps
from maddpg_gail.bc import behaviour_cloning
from maddpg_gail.budget import BudgetError, check_budget
from maddpg_gail.cli import INTERRUPTED
from maddpg_gail.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from maddpg_gail.files import WriteError
from maddpg_gail.demonstrations import DemonstrationsError, load_demonstrations
from maddpg_gail.maddpg import make_actors
from maddpg_gail.networks import ActionSpec
from maddpg_gail.trainer import MetricsCsv, NonFiniteError, StopRequest, Trainer, read_metrics_rows, train

ROOT = Path(__file__).resolve().parents[1]
# TINY_CONFIG as flags, for the command line
TINY_FLAGS = ["--num-envs", "2", "--hidden-sizes", "16,16", "--batch-size", "32", "--buffer-size", "2000",
              "--learning-starts", "64", "--update-every", "10", "--eval-interval", "6", "--eval-episodes", "2",
              "--save-interval", "6", "--device", "cpu"]


def checkpoint_of(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "checkpoint.pt"


def run_main(capsys, *args: str) -> tuple[int, str]:
    """main.py ARGS in this process: (exit code, stderr)."""
    try:
        code = main.main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err.strip()


def python(code: str, **kwargs) -> subprocess.Popen:
    """A Python child running `code` from the repository root."""
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.fixture
def lock_holder():
    """Start a process that holds a run folder's lock until it is killed; yields start(run_dir) -> Popen."""
    started = []

    def start(run_dir: Path) -> subprocess.Popen:
        child = python(f"""
            import time
            from pathlib import Path
            from maddpg_gail import run_folder
            with run_folder.locked(Path({str(run_dir)!r})):
                print("held", flush=True)
                time.sleep(120)
        """)
        started.append(child)
        assert child.stdout.readline().strip() == "held", child.stderr.read()
        return child

    yield start
    for child in started:
        child.kill()
        child.wait(timeout=10)


# --- 1. --overwrite deletes only a run ---------------------------------------------------------------------


def test_overwrite_refuses_a_folder_that_is_not_a_run_and_touches_nothing(tmp_path, capsys):
    folder = tmp_path / "x"
    (folder / "t").mkdir(parents=True)
    (folder / "t" / "a.tex").write_text("w")
    code, err = run_main(capsys, "--run-dir", str(folder), "--overwrite", "--episodes", "12", *TINY_FLAGS)
    assert code == 2
    assert f"argument --run-dir: {folder} is not a run folder (no config.json), so --overwrite leaves it alone" \
        in one_line(err)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == ["t", "t/a.tex"]  # not even a lock


def test_overwrite_of_a_run_deletes_its_files_and_nothing_else(run_copy):
    (run_copy / "notes.txt").write_text("keep me")
    (run_copy / "analysis").mkdir()
    (run_copy / "analysis" / "plot.py").write_text("keep me too")
    assert {p.name for p in run_copy.iterdir()} >= {"config.json", "checkpoints", "gifs", "metrics.csv"}
    with run_folder.new_run(run_copy, overwrite=True):
        assert sorted(p.name for p in run_copy.iterdir()) == [".lock", "analysis", "notes.txt"]
    assert (run_copy / "analysis" / "plot.py").read_text() == "keep me too"


# --- 4. one writer per run folder ----------------------------------------------------------------------


def test_a_second_writer_and_a_resume_of_a_folder_in_use_are_refused_in_one_line(run_copy, tmp_path, capsys,
                                                                                  lock_holder):
    holder = lock_holder(run_copy)
    before = {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()}
    code, err = run_main(capsys, "--resume", str(run_copy), "--episodes", "18")
    assert code == 2
    assert one_line(err).endswith(f"argument --resume: {run_copy} is in use by process {holder.pid}; "
                                  f"one run writes to a folder at a time")
    code, err = run_main(capsys, "--run-dir", str(run_copy), "--overwrite", "--episodes", "12", *TINY_FLAGS)
    assert code == 2 and f"{run_copy} is in use by process {holder.pid}" in one_line(err)
    fresh = tmp_path / "fresh"
    lock_holder(fresh)  # an empty folder being started by another process
    code, err = run_main(capsys, "--run-dir", str(fresh), "--episodes", "12", *TINY_FLAGS)
    assert code == 2 and "is in use by process" in one_line(err)
    assert {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()} == before
    assert [p.name for p in fresh.iterdir()] == [".lock"]


def test_the_lock_dies_with_its_process_even_of_kill_9(run_copy, lock_holder):
    holder = lock_holder(run_copy)
    with pytest.raises(run_folder.RunFolderError):
        with run_folder.locked(run_copy):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with run_folder.locked(run_copy):  # no stale lock file to remove by hand
        assert run_folder.holds(run_copy)
    assert not run_folder.holds(run_copy)


def test_a_compare_worker_refuses_a_run_folder_another_process_holds(run_copy, lock_holder):
    lock_holder(run_copy)
    before = {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()}
    with pytest.raises(run_folder.RunFolderError, match="is in use by process"):
        sweeps.train_pair(TINY_CONFIG.to_dict(), str(run_copy), final_eval_episodes=2)
    assert {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()} == before  # its leftovers not cleared


def test_a_compare_worker_keeps_a_run_another_process_finished_after_the_compare_began(run_copy):
    """The compare saw no run there when it began (so it would start one, clearing the folder first); by the time its
    worker gets to it, another process (`main.py --run-dir` of the same folder) has trained it to its end. The worker
    takes the folder's state again under the lock and keeps the finished run: nothing trained again, nothing lost."""
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_copy.rglob("*") if p.is_file()}
    assert sweeps.train_pair(TINY_CONFIG.to_dict(), str(run_copy), final_eval_episodes=2) == "kept"  # not "trained"
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_copy.rglob("*") if p.is_file()}
    assert {p: after[p] for p in files} == files  # every file of the run as it was, none rewritten
    assert set(after) - set(files) <= {run_copy / "final_eval.json"}  # its final evaluation, and nothing else, added


# --- 2. a full disk ends the run in seconds, in one line -------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs, where this test may mount one (root on Linux)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here; test_a_failing_events_file_… covers the writer with a patched file")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def test_a_real_full_disk_under_a_running_run_ends_it_in_seconds_and_resume_works(small_disk):
    run_dir = small_disk / "run"
    cmd = [sys.executable, str(ROOT / "main.py"), "--run-dir", str(run_dir), "--episodes", "100000", *TINY_FLAGS,
           "--save-interval", "50", "--eval-interval", "50"]
    child = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    try:
        deadline = time.monotonic() + 120
        while not checkpoint_of(run_dir).is_file():
            assert child.poll() is None and time.monotonic() < deadline, "no first checkpoint"
            time.sleep(0.2)
        time.sleep(1)
        filler = fill(small_disk)
        filled = time.monotonic()
        _, err = child.communicate(timeout=60)  # tensorboardX's dying thread used to hang here for ever
    finally:
        child.kill()
    assert time.monotonic() - filled < 30
    assert child.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and "Exception ignored" not in err
    assert last.startswith(f"main.py: error: {run_dir}/") and "No space left" in last
    state = load_checkpoint(checkpoint_of(run_dir))  # the last checkpoint is whole
    assert not list(run_dir.rglob("*.tmp"))
    filler.unlink()
    done = state["counters"]["episodes"]
    resumed = subprocess.run([sys.executable, str(ROOT / "main.py"), "--resume", str(run_dir),
                              "--episodes", str(done + 12)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(checkpoint_of(run_dir))["counters"]["episodes"] >= done + 12


def test_a_gif_on_a_real_full_disk_is_one_line_naming_it_and_no_traceback_follows(small_disk, run_copy):
    gif = small_disk / "episode.gif"
    child = python(f"""
        import sys
        import main

        with open({str(small_disk / "filler")!r}, "wb") as filler:
            try:
                while True:
                    filler.write(bytes(65536))
                    filler.flush()
            except OSError:
                pass
        code = main.main(["evaluate", {str(run_copy)!r}, "--episodes", "1", "--gif", {str(gif)!r}])
        import gc; gc.collect()  # where imageio's half-closed writer used to print its tracebacks
        sys.exit(code)
    """)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 1
    assert one_line(err) == f"main.py evaluate: error: {gif}: not written (No space left on device); " \
                            f"its previous version is intact"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_a_failing_events_file_stops_training_in_one_line_naming_it(tmp_path):
    """tensorboardX's own writer thread, its file failing with ENOSPC: the run must end, not block."""
    run_dir = tmp_path / "run"
    child = python(f"""
        import errno, sys
        import tensorboardX.record_writer as record_writer
        import main
        from pathlib import Path

        real_flush = record_writer.RecordWriter.flush

        def full_once_checkpointed(self):  # every flush, from the loop or the writer's own thread
            if Path({str(run_dir / "checkpoints" / "checkpoint.pt")!r}).exists():
                raise OSError(errno.ENOSPC, "No space left on device")
            real_flush(self)

        record_writer.RecordWriter.flush = full_once_checkpointed
        sys.exit(main.main(["--run-dir", {str(run_dir)!r}, "--episodes", "100000", *{TINY_FLAGS!r}]))
    """)
    try:
        _, err = child.communicate(timeout=90)
    finally:
        child.kill()
    assert child.returncode == 1, err
    events = next(run_dir.glob("events.out.tfevents.*"))
    assert err.strip().splitlines()[-1] == (f"main.py: error: {events}: not written (No space left on device); "
                                            f"training stopped, the last checkpoint is intact")
    assert "Traceback" not in err and "Exception in thread" not in err and "Exception ignored" not in err
    assert load_checkpoint(checkpoint_of(run_dir))["counters"]["episodes"] == 6  # the flush before the next one failed


def open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    return {os.readlink(fds / fd) for fd in os.listdir(fds) if (fds / fd).exists()}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_the_events_file_is_closed_even_after_a_failed_write(tmp_path, monkeypatch):
    """Else the garbage collector closes it later, and a compare worker training run after run keeps its files."""
    import tensorboardX.record_writer as record_writer
    from maddpg_gail.event_log import EventLog

    log = EventLog(tmp_path)
    log.add_scalar("a", 1.0, 1)
    assert str(log.path) in open_files()

    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(record_writer.RecordWriter, "flush", full)
    with pytest.raises(WriteError, match=f"^{log.path}: not written"):
        log.flush()
    log.close(raise_failure=False)
    assert str(log.path) not in open_files()


def test_closing_the_events_file_after_an_error_does_not_replace_that_error(tiny_config, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config, tmp_path / "run")

    def broken_evaluation(self, writer, metrics):
        writer._failure = OSError(errno.ENOSPC, "No space left on device")  # the disk is full as well
        raise RuntimeError("the first error")

    monkeypatch.setattr(Trainer, "evaluate_into", broken_evaluation)
    with pytest.raises(RuntimeError, match="the first error"):
        trainer.train()


def test_a_failed_metrics_write_names_the_file(tmp_path, monkeypatch):
    metrics = MetricsCsv(tmp_path / "metrics.csv", ["a"], 0)
    real_open = Path.open

    def full_disk_open(self, mode="r", *args, **kwargs):
        file = real_open(self, mode, *args, **kwargs)
        if mode == "a":
            file.write = lambda text: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device"))
        return file

    monkeypatch.setattr(Path, "open", full_disk_open)
    with pytest.raises(WriteError, match=f"^{tmp_path / 'metrics.csv'}: not written \\(No space left on device\\)"):
        metrics.append({field: 0 for field in metrics.fields})


# --- 3. compare's workers die with their parent ----------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return status not in ("Z", "X")  # a zombie has exited


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_compare_workers_die_when_the_sweep_is_killed_with_kill_9():
    parent = python("""
        import multiprocessing, os, time
        from concurrent.futures import ProcessPoolExecutor
        from maddpg_gail import sweeps

        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=sweeps._init_pool_worker, initargs=(os.getpid(),))
        print(pool.submit(os.getpid).result(), flush=True)
        pool.submit(time.sleep, 120)  # a worker busy with its run
        time.sleep(120)
    """)
    worker = int(parent.stdout.readline())
    try:
        assert alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(worker), "the worker outlived its killed parent"
    finally:
        if alive(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_sigterm_to_the_sweeps_process_group_saves_the_running_run_and_starts_no_queued_one(tmp_path):
    """`kill -- -PGID` (or a job scheduler ending the job's processes) reaches each compare worker twice: directly,
    and forwarded by the compare; a scheduler may repeat it. However often it comes, SIGTERM means "save and
    stop": the running run writes its checkpoint where it stopped, and the run queued behind it never starts,
    though the worker that ran the first is free again."""
    out = tmp_path / "compare"
    flags = [*TINY_FLAGS, "--eval-interval", "1000", "--save-interval", "100000"]  # no checkpoint but the stop's
    sweep = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "compare", "--variants", "maddpg", "--seeds", "2", "--workers", "1",
         "--episodes", "100000", *flags, "--final-eval-episodes", "2", "--out", str(out)],
        cwd=ROOT, env={**os.environ, "SDL_VIDEODRIVER": "dummy"}, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True)  # its own process group, as a job's
    first, queued = out / "maddpg__s0", out / "maddpg__s1"
    try:
        deadline = time.monotonic() + 120
        while not (first / "train.log").is_file() or "episodes 2 of" not in (first / "train.log").read_text():
            assert sweep.poll() is None and time.monotonic() < deadline, sweep.communicate()
            time.sleep(0.2)
        time.sleep(3)  # training, well past its first updates (learning starts at 64 transitions)
        for _ in range(3):
            os.killpg(sweep.pid, signal.SIGTERM)
            time.sleep(0.2)
        stdout, stderr = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
    log = (first / "train.log").read_text()
    assert "SIGTERM: finishing the current episode, then saving" in log and "Traceback" not in log, log
    episodes = load_checkpoint(first / "checkpoints" / "checkpoint.pt")["counters"]["episodes"]
    assert 4 <= episodes < 100000
    assert not (queued / "train.log").exists(), (queued / "train.log").read_text()
    assert "Traceback" not in stderr and "compare: stopped; rerun the same command" in stderr, stderr
    # 130, unless a repeat of the signal came after the sweep had stopped, as it was exiting
    assert sweep.returncode in (INTERRUPTED, -signal.SIGTERM), stderr
    assert {"maddpg__s0: interrupted", "maddpg__s1: interrupted"} <= set(stdout.splitlines()), stdout


def test_a_second_ctrl_c_stops_training_at_once_but_a_second_sigterm_still_lets_it_save():
    stop = StopRequest()
    stop._handler(signal.SIGTERM, None)
    stop._handler(signal.SIGTERM, None)
    assert stop.requested
    with pytest.raises(KeyboardInterrupt):
        stop._handler(signal.SIGINT, None)


def test_a_compare_worker_whose_run_was_stopped_at_once_starts_none_of_its_queued_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(sweeps, "_stop_requested", False)  # and restored after: the flag is the worker's for life

    def second_ctrl_c(config, run_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweeps.trainer, "train", second_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        sweeps.train_pair(TINY_CONFIG.to_dict(), str(tmp_path / "first"), final_eval_episodes=2)
    assert sweeps.train_pair(TINY_CONFIG.to_dict(), str(tmp_path / "queued"), final_eval_episodes=2) == "interrupted"
    assert not (tmp_path / "queued").exists()


# --- 5. checkpoints and datasets carry a digest ----------------------------------------------------------


def flip_a_bit_of(path: Path, tensor: torch.Tensor) -> None:
    data = bytearray(path.read_bytes())
    weights = tensor.numpy().tobytes()
    at = data.find(weights)
    assert at >= 0 and data.find(weights, at + 1) < 0
    data[at + len(weights) // 2] ^= 0x10  # one bit of a float in the middle of the weights
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["policy.pt", "checkpoint.pt"])
def test_a_flipped_bit_in_an_actor_weight_is_refused_naming_the_file(run_copy, capsys, name):
    """The policy file is what load_policy and evaluate read; the checkpoint is what a resume reads."""
    path = run_copy / "checkpoints" / name
    flip_a_bit_of(path, load_checkpoint(checkpoint_of(run_copy))["learner"]["actors"]["0.net.2.weight"])
    message = (f"^{path}: its contents do not match the SHA-256 recorded when it was written: the file is damaged "
               f"or was edited")
    if name == "checkpoint.pt":
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(path)
        code, err = run_main(capsys, "--resume", str(run_copy), "--episodes", "18")
    else:
        with pytest.raises(CheckpointError, match=message):
            load_policy(run_copy)
        code, err = run_main(capsys, "evaluate", str(run_copy), "--episodes", "2")
    assert code == 2 and f"{path}: its contents do not match the SHA-256" in one_line(err)


def test_any_file_saved_through_the_checkpoint_module_gets_a_digest(tmp_path):
    from maddpg_gail.checkpoint import load_torch_file, save_torch_file

    path = tmp_path / "policy.pt"
    save_torch_file({"actors": {"w": torch.arange(6.0)}, "scenario": "simple_spread_v3"}, path)
    assert load_torch_file(path)["scenario"] == "simple_spread_v3"
    flip_a_bit_of(path, torch.arange(6.0))
    with pytest.raises(CheckpointError, match="its contents do not match the SHA-256"):
        load_torch_file(path)


def test_an_edited_dataset_is_refused_naming_the_file(tmp_path):
    from maddpg_gail.demonstrations import collect, save_demonstrations
    from envs.experts import ScriptedSpreadExpert

    expert = ScriptedSpreadExpert({"max_cycles": 5, "continuous_actions": False})
    path = tmp_path / "demos.npz"
    save_demonstrations(collect(expert, expert.scenario, expert.env_kwargs, episodes=2, seed=0), path)
    load_demonstrations(path)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["obs/agent_0"][3, 1] += 0.001  # rewritten whole, so the zip's own CRCs are right
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(DemonstrationsError, match=f"^{path}: its arrays do not match the SHA-256 recorded"):
        load_demonstrations(path)


# --- 6. a dead --ray-address ------------------------------------------------------------------------------


def test_a_dead_ray_address_fails_within_seconds_in_one_line(tmp_path):
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "compare", "--variants", "maddpg", "--seeds", "1",
                             "--ray-address", "127.0.0.1:1", "--out", str(tmp_path / "out"), "--episodes", "12",
                             *TINY_FLAGS], cwd=ROOT, capture_output=True, text=True, timeout=90,
                            env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    assert time.monotonic() - started < 60
    assert result.returncode == 2
    assert one_line(result.stderr) == ("main.py compare: error: --ray-address 127.0.0.1:1: no Ray cluster reachable "
                                       "there (Connection refused)")


# --- 7. runaway work and memory ---------------------------------------------------------------------------


@pytest.mark.parametrize("flags, fragments", [
    (["--hidden-sizes", "100000,100000"], ["argument --hidden-sizes: the run needs about 1", "GiB available"]),
    # the buffer holds what the run collects: a long run is what makes a large buffer large
    (["--buffer-size", "10000000000", "--episodes", "100000000"],
     ["argument --buffer-size: the run needs about 1", "a stored transition is 128 "
                                                                                         "floats", "GiB available"]),
])
def test_runaway_work_and_runs_too_big_for_memory_are_refused_before_anything_is_made(tmp_path, capsys, flags,
                                                                                       fragments):
    code, err = run_main(capsys, "--run-dir", str(tmp_path / "run"), *flags)
    assert code == 2, err
    line = one_line(err)
    for fragment in fragments:
        assert fragment in line
    assert not (tmp_path / "run").exists()


def test_more_envs_than_episodes_is_refused_in_one_line(tmp_path):
    """In a child bounded in time: unrefused, it trains 100,000 episodes."""
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--run-dir", str(tmp_path / "run"),
                             "--num-envs", "100000", "--episodes", "64"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "main.py: error: argument --num-envs: 100000 is more than --episodes 64: the envs end their episodes at "
        "the same step, so the run would train 100000 episodes; use at most 64 envs")
    assert not (tmp_path / "run").exists()


def test_the_memory_estimate_counts_buffer_and_networks():
    config = dataclasses.replace(TINY_CONFIG, buffer_size=1000, hidden_sizes=(10,), episodes=1000)
    obs, act = [18, 18, 18], [5, 5, 5]
    buffer_bytes = 1000 * (2 * 54 + 15 + 3 + 2) * 4
    with pytest.raises(BudgetError, match=r"replay buffer 0\.0 GiB.* and the GPU has 0\.0 GiB available") as error:
        check_budget(config, obs, act, available=(buffer_bytes, "the GPU"))
    assert error.value.flag in ("--buffer-size", "--hidden-sizes")
    check_budget(config, obs, act, available=(10 * buffer_bytes, "the GPU"))  # fits
    with pytest.raises(BudgetError) as error:
        check_budget(dataclasses.replace(config, buffer_size=10**6), obs, act, available=(10 * buffer_bytes, "x"))
    assert error.value.flag == "--buffer-size"


def test_ctrl_c_in_collect_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "demos.npz"
    child = python(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as on a terminal, even if this test's is ignored
        import main, maddpg_gail.demonstrations, envs.experts, maddpg_gail.policy
        print("imported", flush=True)
        sys.exit(main.main(["collect", "--expert", "scripted", "--episodes", "10000000", "--out", {str(out)!r}]))
    """)
    try:
        assert child.stdout.readline().strip() == "imported"
        time.sleep(3)  # into the collection
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert one_line(err) == f"main.py collect: interrupted; {out} not written (a file there before is left as it was)"
    assert list(tmp_path.iterdir()) == []


# --- 8. non-finite values --------------------------------------------------------------------------------


def test_overflowing_logits_reach_the_finite_check_not_torchs_validation(tiny_config, tmp_path):
    trainer = Trainer(tiny_config, tmp_path / "run")
    while len(trainer.buffer) < tiny_config.learning_starts:
        trainer.collect_step()
    width = sum(trainer.obs_dims)
    signs = torch.randint(0, 2, (len(trainer.buffer.storage), width), generator=torch.Generator().manual_seed(0))
    # observations a resumed buffer may hold: finite, but the actors' logits overflow to -inf and inf
    trainer.buffer.storage[:, :width] = 3e38 * (2.0 * signs - 1)
    with pytest.raises(NonFiniteError, match=r"of agent_0 is (nan|inf|-inf) at episode 0, update 1; training stopped"):
        trainer.learn()


class OneBatchOfDemonstrations:
    """Every agent's expert takes action 1, on observations of zeros."""

    def __init__(self):
        self.generator = torch.Generator()

    def epoch(self, batch_size):
        yield [torch.zeros(4, 18)] * 3, [torch.eye(5)[[1, 1, 1, 1]]] * 3


def test_behaviour_cloning_stops_at_a_non_finite_loss():
    actors = make_actors(TINY_CONFIG, [18, 18, 18], [ActionSpec(True, 5)] * 3)
    with torch.no_grad():  # logits whose cross-entropies (2e38 each) overflow when summed over the agents
        for actor in actors:
            actor.net[-1].weight.zero_()
            actor.net[-1].bias.copy_(torch.tensor([1e38, -1e38, 0.0, 0.0, 0.0]))
    before = [p.clone() for p in actors.parameters()]
    with pytest.raises(NonFiniteError, match="^behaviour-cloning loss is inf at epoch 1, batch 1; cloning stopped"):
        behaviour_cloning(actors, OneBatchOfDemonstrations(), epochs=3, batch_size=4, lr=1e-3)
    assert all(torch.equal(a, b) for a, b in zip(actors.parameters(), before))  # no step taken on it


# --- 9. report ---------------------------------------------------------------------------------------------


def test_report_evaluates_the_checkpoint_and_marks_an_unfinished_run(tiny_config, tmp_path, monkeypatch):
    """As after a kill -9: metrics rows at 0, 6 and 12 episodes, the checkpoint (and config) at 6 of 12."""
    saves = []
    real_save = Trainer.save

    def first_save_only(self):
        saves.append(self.counters.episodes)
        return real_save(self) if len(saves) == 1 else None

    monkeypatch.setattr(Trainer, "save", first_save_only)
    monkeypatch.setattr(Trainer, "save_gif", lambda self, writer: None)
    run_dir, _ = train(tiny_config, tmp_path / "run")
    assert [int(r["episodes"]) for r in read_metrics_rows(run_dir / "metrics.csv")] == [0, 6, 12]
    with open(run_dir / "metrics.csv", "a") as f:
        f.write("18,450,3")  # and a row cut short by the kill
    monkeypatch.undo()
    out = tmp_path / "report"
    reports.report([run_dir], out, final_eval_episodes=2)
    results = list(csv.DictReader((out / "results.csv").open()))
    assert results[0]["episodes"] == "6"
    assert json.loads((run_dir / "final_eval.json").read_text())["trained_episodes"] == 6
    markdown = (out / "results.md").read_text()
    assert "| maddpg | 1 | 6 (1 unfinished) |" in markdown and "| 6 of 12 (unfinished) |" in markdown


def test_a_cut_metrics_row_is_dropped_on_resume(run_copy):
    with open(run_copy / "metrics.csv", "a") as f:
        f.write("12,300")
    MetricsCsv(run_copy / "metrics.csv", ["agent_0", "agent_1", "agent_2"], 12)
    rows = list(csv.DictReader((run_copy / "metrics.csv").open()))
    assert [r["episodes"] for r in rows] == ["0", "6", "12"] and all(None not in r.values() for r in rows)


def test_report_refuses_a_checkpoint_of_another_config(run_copy, tmp_path, capsys):
    config = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({**config, "critic": "independent"}))  # would read as iddpg
    code, err = run_main(capsys, "report", str(run_copy), "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"{checkpoint_of(run_copy)}: it is of another run: its critic is 'centralized'" in one_line(err)


@pytest.mark.parametrize("edit, message", [
    (lambda c: None, "holds null, not a config (a JSON object)"),
    (lambda c: {**c, "env_backend": "foo"}, "env_backend: 'foo' is not one of 'mpe2', 'batched'"),
    (lambda c: {**c, "hidden_sizes": 5}, "hidden_sizes: 5 is not comma-separated positive layer sizes"),
    (lambda c: {**c, "gamma": None}, "gamma: None is not a number in [0, 1)"),
])
def test_report_refuses_bad_config_values_in_one_line(run_copy, tmp_path, capsys, edit, message):
    path = run_copy / "config.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    code, err = run_main(capsys, "report", str(run_copy), "--out", str(tmp_path / "out"))
    assert code == 2 and f"main.py report: error: {path}: {message}" in one_line(err)


def test_a_run_whose_config_lacks_a_field_added_since_reads_it_as_its_default_in_report_and_resume(
        run_copy, tmp_path, capsys):
    path = run_copy / "config.json"
    config = json.loads(path.read_text())
    assert config["actor_warmup_updates"] == 0  # the default: what the code did before the field existed
    path.write_text(json.dumps({k: v for k, v in config.items() if k != "actor_warmup_updates"}))
    code, err = run_main(capsys, "report", str(run_copy), "--out", str(tmp_path / "out"))
    assert code == 0, err
    code, err = run_main(capsys, "--resume", str(run_copy), "--episodes", str(config["episodes"]))
    assert code == 0, err  # nothing left to train, but the config was read and agreed with the checkpoint
    path.write_text("{}")  # every field at its default: the checkpoint, which records the whole config, refuses it
    code, err = run_main(capsys, "report", str(run_copy), "--out", str(tmp_path / "out2"))
    assert code == 2 and "checkpoint.pt: it is of another run: its num_envs is" in one_line(err)


# --- 10. the smaller ones ---------------------------------------------------------------------------------


def test_a_run_that_never_updates_says_so(tiny_config, tmp_path, capsys):
    train(dataclasses.replace(tiny_config, max_cycles=1), tmp_path / "run")  # 12 transitions < 64 to start
    assert "warning: no update ran: 12 transitions were collected, fewer than the 64 the first update needs" \
        in capsys.readouterr().err


def read_events(path: Path) -> list[tuple[str, int]]:
    """(tag, step) of every scalar in a TFRecord events file as it is on disk."""
    from tensorboardX.proto import event_pb2

    data, events, at = path.read_bytes(), [], 0
    while at + 12 <= len(data):
        length = int.from_bytes(data[at:at + 8], "little")
        record = data[at + 12:at + 12 + length]
        if len(record) < length:
            break
        event = event_pb2.Event.FromString(record)
        events += [(value.tag, event.step) for value in event.summary.value]
        at += 12 + length + 4
    return events


def test_events_logged_before_a_checkpoint_are_on_disk_when_it_is_written(tiny_config, tmp_path, monkeypatch):
    seen = []
    real_save = Trainer.save

    def save_and_look(self):
        events = next(self.run_dir.glob("events.out.tfevents.*"))
        seen.append((self.counters.env_steps, read_events(events)))  # what a kill -9 right after would leave
        return real_save(self)

    monkeypatch.setattr(Trainer, "save", save_and_look)
    train(tiny_config, tmp_path / "run")
    assert seen
    for env_steps, events in seen:  # the last episodes' returns and the evaluation just before the save
        assert ("train/return/sum", env_steps) in events and ("eval/return/sum", env_steps) in events


def test_temp_files_left_by_killed_writes_go_at_the_next_successful_write(run_copy):
    leftover = run_copy / "checkpoints" / ".checkpoint.pt.0123abcd.tmp"
    leftover.write_bytes(b"half a checkpoint")
    other = run_copy / "checkpoints" / ".other.pt.0123abcd.tmp"
    other.write_bytes(b"another file's")
    state = load_checkpoint(checkpoint_of(run_copy))
    save_checkpoint({k: v for k, v in state.items() if k != "format_version"}, checkpoint_of(run_copy))
    assert not leftover.exists() and other.exists()


def test_resume_with_device_cpu_of_a_run_recorded_as_auto_on_a_cpu(tiny_config, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("auto is cuda here")
    run_dir, _ = train(dataclasses.replace(tiny_config, device="auto", episodes=6), tmp_path / "run")
    capsys.readouterr()
    code, err = run_main(capsys, "--resume", str(run_dir), "--device", "cpu", "--episodes", "12")
    assert code == 0, err
    assert load_checkpoint(checkpoint_of(run_dir))["counters"]["episodes"] >= 12


# --- found by review after the merges ----------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_device_cuda_without_a_gpu_is_one_line_and_an_overwritten_run_is_kept(run_copy, capsys):
    code, err = run_main(capsys, *TINY_FLAGS, "--device", "cuda", "--run-dir", str(run_copy), "--overwrite")
    assert code == 2
    assert one_line(err) == "main.py: error: argument --device: 'cuda': torch sees no CUDA device on this machine; " \
                            "use cpu or auto"
    assert (run_copy / "config.json").is_file() and checkpoint_of(run_copy).is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_resuming_a_run_recorded_for_cuda_without_a_gpu_is_one_line(run_copy, capsys):
    path = run_copy / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "device": "cuda"}))
    state = load_checkpoint(checkpoint_of(run_copy))  # as if trained where a GPU was: config and checkpoint agree
    state["config"]["device"] = "cuda"
    save_checkpoint({k: v for k, v in state.items() if k != "format_version"}, checkpoint_of(run_copy))
    code, err = run_main(capsys, "--resume", str(run_copy), "--episodes", "18")
    assert code == 2 and "its config's --device 'cuda': torch sees no CUDA device" in one_line(err)


def test_a_malformed_yaml_config_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("episodes: [1\n")
    code, err = run_main(capsys, "--config", str(bad), "--run-dir", str(tmp_path / "run"))
    assert code == 2 and f"argument --config: {bad} is not a readable config ({bad}: not valid YAML" in one_line(err)
    assert not (tmp_path / "run").exists()


def test_each_compare_variant_is_checked_against_the_env_before_any_training(tmp_path, capsys):
    code, err = run_main(capsys, "compare", "--scenario", "simple_adversary_v3", "--variants", "maddpg",
                         "maddpg actor_inputs=distances", "--seeds", "1", "--episodes", "12", "--out", str(tmp_path / "c"),
                         *TINY_FLAGS)
    assert code == 2
    assert one_line(err).endswith("argument --actor-inputs: distances: defined for simple_spread_v3, not "
                                  "simple_adversary_v3")
    assert not (tmp_path / "c").exists()


def test_a_full_disk_during_report_is_one_line(run_copy, tmp_path, capsys, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("maddpg_gail.files.os.replace", full)
    code, err = run_main(capsys, "report", str(run_copy), "--out", str(tmp_path / "out"), "--final-eval-episodes", "2")
    assert code == 1 and "not written (No space left on device)" in one_line(err)


def test_a_behaviour_cloning_run_has_nothing_to_resume(run_copy, capsys):
    path = run_copy / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "episodes": 0}))  # what bc records
    code, err = run_main(capsys, "--resume", str(run_copy), "--episodes", "18")
    assert code == 2 and "a behaviour-cloning run has nothing to resume" in one_line(err)


def test_the_memory_estimate_names_the_setting_that_asks_for_the_most():
    obs, act = [18, 18, 18], [5, 5, 5]
    config = dataclasses.replace(TINY_CONFIG, batch_size=1_000_000, learning_starts=0, buffer_size=2_000_000)
    with pytest.raises(BudgetError) as error:
        check_budget(config, obs, act, available=(2**20, "x"))
    assert error.value.flag == "--batch-size"
