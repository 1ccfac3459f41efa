"""Hours of training are not lost to a damaged file, a full disk, a signal, a kill or a NaN."""

import errno
import io
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import main
from envs.batched import BatchedVectorEnv
from maddpg_gail import load_policy
from maddpg_gail import maddpg
from maddpg_gail.checkpoint import DIGEST_KEY, CheckpointError, load_checkpoint, state_digest
from maddpg_gail.files import WriteError
from maddpg_gail.config import Config
from maddpg_gail.evaluation import record_gif
from maddpg_gail.trainer import MetricsCsv, NonFiniteError, Trainer, train

ROOT = Path(__file__).resolve().parents[1]
def checkpoint_of(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "checkpoint.pt"


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def one_error_line(text: str) -> str:
    """The last line of stderr, which must be the error; no traceback anywhere."""
    assert "Traceback" not in text, text
    return text.splitlines()[-1]


# --- damaged and foreign checkpoints ---------------------------------------------------------------------


class NotAState:
    pass


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def doctored(good: bytes, change) -> bytes:
    """A checkpoint edited by someone who also recomputed its digest: the other checks must still catch it."""
    state = torch.load(io.BytesIO(good), weights_only=True)
    del state[DIGEST_KEY]
    change(state)
    return torch_bytes({**state, DIGEST_KEY: state_digest(state)})


def with_a_wrong_weight_shape(state: dict) -> None:
    state["learner"]["actors"]["0.net.0.weight"] = torch.zeros(3, 3)


# name -> (the bytes of the bad checkpoint from a good one, what the message says)
BAD_CHECKPOINTS = {
    "empty": (lambda good: b"", "the file is empty"),
    "truncated": (lambda good: good[: len(good) // 2], "not a readable checkpoint: truncated, damaged"),
    "cut-after-header": (lambda good: good[:100], "not a readable checkpoint: truncated, damaged"),
    "random-bytes": (lambda good: np.random.default_rng(0).bytes(4096), "not a readable checkpoint"),
    "text": (lambda good: b"episodes: 12\nlearning rate: 0.01\n", "not a readable checkpoint"),
    "torch-dict": (lambda good: torch_bytes({"weights": torch.zeros(3)}), "it lacks format_version, config"),
    "torch-tensor": (lambda good: torch_bytes(torch.zeros(3)), "it holds a Tensor, not a dict"),
    "python-object": (lambda good: torch_bytes(NotAState()), "Unsupported global"),
    "other-format": (lambda good: doctored(good, lambda s: s.update(format_version=99)), "format 99 is not"),
    "other-scenario": (lambda good: doctored(good, lambda s: s["config"].update(scenario="simple_tag_v3")),
                       "its agents are ['agent_0', 'agent_1', 'agent_2'], but its env (simple_tag_v3) has"),
    "other-agent-count": (lambda good: doctored(good, lambda s: s["config"].update(env_kwargs={"N": 4})),
                          "but its env (simple_spread_v3 {'N': 4}) has ['agent_0', 'agent_1', 'agent_2', 'agent_3']"),
    "other-observations": (lambda good: doctored(good, lambda s: s.update(obs_dims=[18, 18, 17])),
                           "its obs_dims are [18, 18, 17], but its env (simple_spread_v3) has [18, 18, 18]"),
    "other-actions": (lambda good: doctored(good, lambda s: s["config"].update(continuous_actions=True)),
                      "its action_specs are [{'discrete': True"),
    "other-version-config": (lambda good: doctored(good, lambda s: s["config"].update(no_such_option=1)),
                             "its config is not one of this version (unknown config keys: no_such_option)"),
    "edited-weights": (lambda good: doctored(good, with_a_wrong_weight_shape), "does not load"),
}


@pytest.fixture(params=BAD_CHECKPOINTS, ids=list(BAD_CHECKPOINTS))
def bad_checkpoint(request, run_copy) -> tuple[Path, str]:
    make, message = BAD_CHECKPOINTS[request.param]
    path = checkpoint_of(run_copy)
    path.write_bytes(make(path.read_bytes()))
    return path, message


def test_load_policy_refuses_a_bad_checkpoint_naming_file_and_reason(bad_checkpoint):
    path, message = bad_checkpoint
    with pytest.raises(CheckpointError) as refused:
        load_policy(path)
    assert str(refused.value).startswith(f"{path}: ") and message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_evaluate_refuses_a_bad_checkpoint_in_one_line(bad_checkpoint, capsys):
    path, message = bad_checkpoint
    assert main.main(["evaluate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"main.py evaluate: error: {path}: ")
    assert message in err and err.count("\n") == 1


def test_resume_refuses_a_bad_checkpoint_in_one_line_and_changes_nothing(bad_checkpoint, capsys):
    path, message = bad_checkpoint
    before = {p: fingerprint(p) for p in path.parents[1].rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as exit_:
        main.main(["--resume", str(path.parents[1]), "--episodes", "18"])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"main.py: error: argument --resume: {path}: ")
    assert message in err and err.count("\n") == 1
    assert {p: fingerprint(p) for p in path.parents[1].rglob("*") if p.is_file()} == before


def test_resume_refuses_a_checkpoint_copied_from_another_run(run_copy, tmp_path, capsys, tiny_config):
    other, _ = train(Config(**{**tiny_config.to_dict(), "scenario": "simple_tag_v3", "episodes": 2}), tmp_path / "tag")
    shutil.copy(checkpoint_of(other), checkpoint_of(run_copy))
    capsys.readouterr()  # what training the other run printed
    with pytest.raises(SystemExit) as exit_:
        main.main(["--resume", str(run_copy), "--episodes", "18"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{checkpoint_of(run_copy)}: it is of another run: its scenario is 'simple_tag_v3', " in err
    assert f"{run_copy / 'config.json'} says 'simple_spread_v3'" in err and err.count("\n") == 1


def test_a_leftover_temp_file_of_a_killed_write_is_ignored(run_copy, capsys):
    leftover = run_copy / "checkpoints" / ".checkpoint.pt.0badf00d.tmp"
    leftover.write_bytes(checkpoint_of(run_copy).read_bytes()[:5000])  # what a kill -9 mid-write leaves
    assert load_policy(run_copy).agents == ["agent_0", "agent_1", "agent_2"]
    assert main.main(["evaluate", str(run_copy), "--episodes", "1"]) == 0
    assert main.main(["--resume", str(run_copy), "--episodes", "14"]) == 0
    assert load_checkpoint(checkpoint_of(run_copy))["counters"]["episodes"] == 14
    assert "error" not in capsys.readouterr().err


# --- failing writes -------------------------------------------------------------------------------------


def no_space_after_some_bytes(obj, file, *args, **kwargs):
    """`torch.save` on a disk that fills up in the middle of a write."""
    file.write(b"PK\x03\x04 the first bytes of a checkpoint")
    raise OSError(errno.ENOSPC, "No space left on device")


def gif_on_a_full_disk(path: Path, data: bytes) -> None:
    """`Path.write_bytes` of an encoded GIF on a disk that fills up in the middle of the write."""
    with open(path, "wb") as file:
        file.write(data[:10])
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_checkpoint_write_keeps_the_previous_one_and_stops_training_in_one_line(run_copy, monkeypatch,
                                                                                         capsys):
    before = fingerprint(checkpoint_of(run_copy))
    monkeypatch.setattr(torch, "save", no_space_after_some_bytes)
    assert main.main(["--resume", str(run_copy), "--episodes", "18"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line == f"main.py: error: {checkpoint_of(run_copy)}: not written (No space left on device); " \
                   "its previous version is intact"
    assert fingerprint(checkpoint_of(run_copy)) == before
    assert not list(run_copy.rglob("*.tmp"))
    monkeypatch.undo()
    assert load_checkpoint(checkpoint_of(run_copy))["counters"]["episodes"] == 12


def test_a_real_full_disk_at_a_checkpoint_stops_training_in_one_line(run_copy):
    """torch's own writer meets a real write error: a file size limit below the checkpoint's size."""
    before = fingerprint(checkpoint_of(run_copy))
    limit = len(before[0]) // 2  # far above a GIF, so the GIF written first still fits

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: writes get EFBIG

    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--resume", "run", "--episodes", "18"],
                            cwd=run_copy.parent, capture_output=True, text=True, timeout=300,
                            preexec_fn=limit_file_size)
    assert result.returncode == 1, result.stderr
    assert one_error_line(result.stderr) == \
        "main.py: error: run/checkpoints/checkpoint.pt: not written (File too large); its previous version is intact"
    assert fingerprint(checkpoint_of(run_copy)) == before
    assert not list(run_copy.rglob("*.tmp"))


def test_a_failed_gif_write_keeps_the_previous_gif_and_leaves_no_temp_file(run_copy, monkeypatch, capsys):
    gif = run_copy / "gifs" / "episode_0000012.gif"
    before = fingerprint(gif)
    monkeypatch.setattr(Path, "write_bytes", gif_on_a_full_disk)
    with pytest.raises(WriteError, match=f"^{gif}: not written \\(No space left on device\\)"):
        record_gif(load_policy(run_copy), gif, seed=0)
    assert main.main(["evaluate", str(run_copy), "--episodes", "1", "--gif", str(gif)]) == 1
    assert one_error_line(capsys.readouterr().err) == \
        f"main.py evaluate: error: {gif}: not written (No space left on device); its previous version is intact"
    assert fingerprint(gif) == before
    assert not list(run_copy.rglob("*.tmp"))


# --- signals and kills ----------------------------------------------------------------------------------

TINY_FLAGS = ["--num-envs", "2", "--hidden-sizes", "16,16", "--batch-size", "32", "--buffer-size", "5000",
              "--learning-starts", "64", "--update-every", "10", "--eval-interval", "20", "--eval-episodes", "2",
              "--save-interval", "20", "--device", "cpu", "--episodes", "60"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """An uninterrupted 60-episode run of TINY_FLAGS."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = cli(*TINY_FLAGS, "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr
    return run_dir


def start_training(run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *TINY_FLAGS, "--run-dir", str(run_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)


def learner_parameters(run_dir: Path) -> dict[str, torch.Tensor]:
    learner = load_checkpoint(checkpoint_of(run_dir))["learner"]
    return {f"{k}.{n}": t for k in ("actors", "critics", "target_actors", "target_critics")
            for n, t in learner[k].items()}


def assert_same_training(a: Path, b: Path) -> None:
    pa, pb = learner_parameters(a), learner_parameters(b)
    assert pa.keys() == pb.keys() and all(torch.equal(pa[name], pb[name]) for name in pa)
    assert load_checkpoint(checkpoint_of(a))["counters"] == load_checkpoint(checkpoint_of(b))["counters"]


def test_sigterm_saves_exits_130_and_resume_matches_an_uninterrupted_run(reference_run, tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir)
    metrics = run_dir / "metrics.csv"
    # header, the evaluation before training, the one at 20 episodes
    wait_for(lambda: metrics.exists() and len(metrics.read_text().splitlines()) > 2, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "SIGTERM: finishing the current episode, then saving" in stderr
    assert f"checkpoint: {checkpoint_of(run_dir)}" in stderr and "Traceback" not in stderr
    assert 20 <= load_checkpoint(checkpoint_of(run_dir))["counters"]["episodes"] < 60
    resumed = cli("--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert_same_training(reference_run, run_dir)


def test_kill_9_mid_run_resumes_from_the_last_checkpoint(reference_run, tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir)
    wait_for(checkpoint_of(run_dir).exists, process)  # the checkpoint at 20 episodes
    time.sleep(0.3)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL  # killed mid-run, not finished
    saved = load_checkpoint(checkpoint_of(run_dir))["counters"]["episodes"]
    assert saved in (20, 40)
    resumed = cli("--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert_same_training(reference_run, run_dir)  # lost only the episodes after the checkpoint, then redid them
    episodes = [row.split(",")[0] for row in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert episodes == [row.split(",")[0] for row in (reference_run / "metrics.csv").read_text().splitlines()[1:]]


def test_metrics_rows_written_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    path = tmp_path / "metrics.csv"
    header = "episodes,env_steps,updates,wall_time_s,train_return_sum,eval_return_sum,eval_return/a"
    path.write_text("\n".join([header, "10,1,1,1,-5,-5,-5", "20,2,2,2,-4,-4,-4", "30,3,3,3,-3,-3,-3"]) + "\n")
    MetricsCsv(path, ["a"], episodes_done=20)
    assert [row.split(",")[0] for row in path.read_text().splitlines()] == ["episodes", "10", "20"]


# --- NaN and inf ----------------------------------------------------------------------------------------


def poison_step(monkeypatch, field: str, agent: str, at_call: int, value: float = np.nan) -> None:
    """Make the batched env return `value` in one agent's `field` at its `at_call`-th step."""
    original_step = BatchedVectorEnv.step
    calls = {"n": 0}

    def step(self, actions):
        result = original_step(self, actions)
        calls["n"] += 1
        if calls["n"] == at_call:
            poisoned = {a: v.copy() for a, v in getattr(result, field).items()}
            poisoned[agent].flat[0] = value
            result = result._replace(**{field: poisoned})
        return result

    monkeypatch.setattr(BatchedVectorEnv, "step", step)


@pytest.mark.parametrize("field, what, value", [("next_observations", "observation", np.nan),
                                                ("rewards", "reward", np.nan),
                                                ("rewards", "reward", -np.inf)])
def test_a_non_finite_env_output_stops_training_in_one_line_and_keeps_the_checkpoint(run_copy, monkeypatch, capsys,
                                                                                    field, what, value):
    before = fingerprint(checkpoint_of(run_copy))
    poison_step(monkeypatch, field, "agent_1", at_call=20, value=value)  # before any episode ends
    assert main.main(["--resume", str(run_copy), "--episodes", "18"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"main.py: error: {what} of agent_1 is {value} at episode 12, update ")
    assert line.endswith("; training stopped, the last checkpoint is left as it was")
    assert fingerprint(checkpoint_of(run_copy)) == before


def trainer_ready_to_learn(config: Config, tmp_path: Path) -> Trainer:
    trainer = Trainer(config, tmp_path / "run")
    while len(trainer.buffer) < config.learning_starts:
        trainer.collect_step()
    return trainer


def test_a_nan_weight_stops_training_at_the_loss_naming_agent_episode_and_update(tmp_path, tiny_config):
    trainer = trainer_ready_to_learn(tiny_config, tmp_path)
    with torch.no_grad():
        next(trainer.learner.critics[1].parameters())[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"^critic loss of agent_1 is nan at episode 0, update 1; "):
        trainer.learn()


def test_an_inf_gradient_stops_training_even_with_finite_losses(tmp_path, monkeypatch, tiny_config):
    trainer = trainer_ready_to_learn(tiny_config, tmp_path)
    original_clip = maddpg.clip_grad_norms_
    calls = {"n": 0}

    def clip_reporting_inf(groups, max_norm):
        calls["n"] += 1
        norms = original_clip(groups, max_norm)
        if calls["n"] == 2:  # the critics, then the actors: the first actor's norm
            norms[0] = float("inf")
        return norms

    monkeypatch.setattr(maddpg, "clip_grad_norms_", clip_reporting_inf)
    with pytest.raises(NonFiniteError, match=r"^actor grad norm of agent_0 is inf at episode 0, update 1; "):
        trainer.learn()


def test_a_nan_continuous_action_stops_training_before_it_reaches_the_env(tmp_path, tiny_config):
    config = Config(**{**tiny_config.to_dict(), "continuous_actions": True})
    trainer = Trainer(config, tmp_path / "run")
    with torch.no_grad():
        for parameter in trainer.learner.actors[2].parameters():
            parameter.fill_(float("nan"))
    stepped = []
    trainer.env.step = lambda actions: stepped.append(actions)
    with pytest.raises(NonFiniteError, match=r"^action of agent_2 is nan at episode 0, update 0; "):
        trainer.collect_step()
    assert stepped == []
