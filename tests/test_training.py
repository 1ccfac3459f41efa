import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import progressbar
import pytest
import torch

from maddpg_gail import load_policy
from maddpg_gail.checkpoint import load_checkpoint
from maddpg_gail.trainer import Trainer, resume, train

ROOT = Path(__file__).resolve().parents[1]


def test_stored_terminated_flags_stay_false_through_mpe_truncation(tiny_config, tmp_path):
    trainer = Trainer(dataclasses.replace(tiny_config, max_cycles=5), tmp_path)
    truncations = 0
    for _ in range(12):
        finished = trainer.collect_step()
        truncations += len(finished)
    assert truncations == 2 * 2  # both envs finished two 5-step episodes
    terminated, truncated = trainer.buffer.storage[: len(trainer.buffer), -2:].T
    assert len(trainer.buffer) == 24 and terminated.eq(0).all()
    assert truncated.sum() == 4


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("scenario", ["simple_spread_v3", "simple_speaker_listener_v4"])
def test_every_action_sent_to_the_env_is_inside_its_space(tiny_config, tmp_path, scenario, continuous):
    # continuous: noise far wider than the box (discrete actions have none)
    noise = {"exploration_noise_start": 5.0} if continuous else {}
    config = dataclasses.replace(tiny_config, scenario=scenario, continuous_actions=continuous, env_backend="mpe2",
                                 **noise)
    trainer = Trainer(config, tmp_path)
    checked = []
    for env in trainer.env.envs:
        original_step = env.step

        def checked_step(actions, env=env, original_step=original_step):
            for agent, action in actions.items():
                assert env.action_space(agent).contains(action), (agent, action)
                checked.append(agent)
            return original_step(actions)

        env.step = checked_step
    for _ in range(30):
        trainer.collect_step()
    assert len(checked) == 30 * 2 * len(trainer.agents)


def test_tiny_run_writes_events_metrics_checkpoint_and_gifs(tiny_config, tmp_path):
    run_dir, completed = train(tiny_config, tmp_path / "run")
    assert completed
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert (run_dir / "config.json").is_file()
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("episodes,env_steps,updates")
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "6", "12"]  # evaluations before training, at 6 and 12
    assert sorted(p.name for p in (run_dir / "gifs").iterdir()) == ["episode_0000006.gif", "episode_0000012.gif"]
    state = load_checkpoint(run_dir / "checkpoints" / "checkpoint.pt")
    assert state["counters"]["episodes"] == 12 and state["counters"]["updates"] > 0
    assert not list(run_dir.rglob("*.tmp"))


def parameters(run_dir: Path) -> dict[str, torch.Tensor]:
    learner = load_checkpoint(run_dir / "checkpoints" / "checkpoint.pt")["learner"]
    return {f"{k}.{n}": t for k in ("actors", "critics", "target_actors", "target_critics")
            for n, t in learner[k].items()}


def assert_same_parameters(a: Path, b: Path) -> None:
    pa, pb = parameters(a), parameters(b)
    assert pa.keys() == pb.keys()
    for name in pa:
        assert torch.equal(pa[name], pb[name]), name


@pytest.mark.parametrize("backend", ["batched", "mpe2"])
@pytest.mark.parametrize("continuous", [False, True])
def test_resume_gives_bit_identical_parameters(tiny_config, tmp_path, continuous, backend):
    config = dataclasses.replace(tiny_config, continuous_actions=continuous, env_backend=backend)
    uninterrupted, _ = train(config, tmp_path / "uninterrupted")
    first_half, _ = train(dataclasses.replace(config, episodes=6), tmp_path / "resumed")
    resumed, completed = resume(first_half, episodes=12)
    assert completed
    assert_same_parameters(uninterrupted, resumed)
    assert (uninterrupted / "metrics.csv").read_text().splitlines()[-1].split(",")[:3] == \
        (resumed / "metrics.csv").read_text().splitlines()[-1].split(",")[:3]


def test_the_bars_last_line_shows_the_mean_return_of_the_last_episodes(tiny_config, tmp_path, monkeypatch):
    # 40 episodes in well under the 30 s between redraws of a bar in a log: only the end can show them
    trainer = Trainer(dataclasses.replace(tiny_config, episodes=40, eval_interval=40, save_interval=40), tmp_path)
    returns, shown = [], []
    collect_step = trainer.collect_step

    def recording_collect_step():
        finished = collect_step()
        returns.extend(finished.sum(axis=1))
        return finished

    trainer.collect_step = recording_collect_step
    finish = progressbar.ProgressBar.finish
    monkeypatch.setattr(progressbar.ProgressBar, "finish",
                        lambda bar, **kwargs: shown.append(bar.variables["return"]) or finish(bar, **kwargs))
    assert trainer.train()
    assert shown == [pytest.approx(float(np.mean(returns[-100:])))]


def test_load_policy_runs_on_the_plain_mpe2_env(tiny_config, tmp_path):
    run_dir, _ = train(tiny_config, tmp_path / "run")
    policy = load_policy(run_dir)
    assert policy.scenario == "simple_spread_v3"
    assert policy.env_kwargs == {"max_cycles": 25, "continuous_actions": False}
    import mpe2.simple_spread_v3 as module

    env = module.parallel_env(**policy.env_kwargs)
    observations, _ = env.reset(seed=3)
    steps = 0
    while env.agents:
        actions = policy.act(observations)
        assert all(env.action_space(a).contains(actions[a]) for a in env.agents)
        observations, *_ = env.step(actions)
        steps += 1
    assert steps == 25
    # the same greedy actions as the actors inside the checkpoint
    actor = load_policy(run_dir / "checkpoints" / "checkpoint.pt").actors[0]
    obs = torch.as_tensor(observations["agent_0"])[None]
    assert policy.act(observations)["agent_0"] == int(actor(obs).argmax())


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, **kwargs)


TINY_FLAGS = ["--num-envs", "2", "--hidden-sizes", "16,16", "--batch-size", "32", "--buffer-size", "5000",
              "--learning-starts", "64", "--update-every", "10", "--eval-interval", "20", "--eval-episodes", "2",
              "--save-interval", "20", "--device", "cpu"]


def test_sigint_saves_exits_130_and_resume_matches_an_uninterrupted_run(tmp_path):
    reference = cli("--episodes", "60", *TINY_FLAGS, "--run-dir", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    run_dir = tmp_path / "interrupted"
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--episodes", "60", *TINY_FLAGS,
                                "--run-dir", str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    metrics = run_dir / "metrics.csv"
    while time.monotonic() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) > 1):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert f"checkpoint: {run_dir / 'checkpoints' / 'checkpoint.pt'}" in stderr
    episodes_done = load_checkpoint(run_dir / "checkpoints" / "checkpoint.pt")["counters"]["episodes"]
    assert 0 < episodes_done < 60
    resumed = cli("--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert_same_parameters(tmp_path / "reference", run_dir)


def test_evaluate_command_prints_per_agent_and_summed_returns(tiny_config, tmp_path):
    run_dir, _ = train(tiny_config, tmp_path / "run")
    result = cli("evaluate", str(run_dir), "--episodes", "3", "--gif", str(tmp_path / "episode.gif"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:5]] == ["agent_0", "agent_1", "agent_2", "sum"]
    per_agent = [float(line.split()[1]) for line in lines[1:4]]
    assert float(lines[4].split()[1]) == pytest.approx(sum(per_agent), abs=2e-3)
    assert (tmp_path / "episode.gif").stat().st_size > 1000
