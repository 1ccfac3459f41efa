"""What a run leaves behind (docs/outputs.md): tensorboard events, policy files, evaluate --json."""

import csv
import dataclasses
import importlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import progressbar
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import main
from maddpg_gail import load_policy
from maddpg_gail.buffer import ReplayBuffer
from maddpg_gail.checkpoint import DIGEST_KEY, load_checkpoint, save_torch_file
from maddpg_gail.files import WriteError
from maddpg_gail.config import Config, run_capacity
from maddpg_gail import trainer as trainer_module
from maddpg_gail.evaluation import EvaluationResult, encode_gif, evaluate, record_gif
from maddpg_gail.policy import BEST_POLICY_NAME, POLICY_NAME, policy_state, save_policy
from maddpg_gail.trainer import EVAL_SEED_OFFSET, Trainer, resume, train


def events(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def metrics_rows(run_dir: Path) -> list[dict]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def evaluate_json(capsys, *args: str) -> dict:
    assert main.main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- evaluate --json and the plain mpe2 loop ---------------------------------------------------------------------


def plain_mpe2_returns(run: Path, seeds: list[int]) -> list[dict[str, float]]:
    """docs/outputs.md's loop: the public policy API on the plain mpe2 env, nothing else of the toolkit."""
    policy = load_policy(run)
    returns = []
    for seed in seeds:
        env = importlib.import_module(f"mpe2.{policy.scenario}").parallel_env(**policy.env_kwargs)
        observations, _ = env.reset(seed=seed)
        episode = {agent: 0.0 for agent in env.agents}
        while env.agents:
            observations, rewards, *_ = env.step(policy.act(observations))
            for agent, reward in rewards.items():
                episode[agent] += reward
        returns.append(episode)
    return returns


@pytest.fixture(scope="module")
def continuous_run(tmp_path_factory) -> Path:
    from tests.conftest import TINY_CONFIG

    config = dataclasses.replace(TINY_CONFIG, continuous_actions=True, episodes=6)
    run_dir, _ = train(config, tmp_path_factory.mktemp("continuous") / "run")
    return run_dir


@pytest.fixture(scope="module")
def assignment_run(tmp_path_factory) -> Path:
    """Actors with input features, which evaluate computes per batch and a plain loop per observation."""
    from tests.conftest import TINY_CONFIG

    config = dataclasses.replace(TINY_CONFIG, actor_inputs="assignment", episodes=6)
    run_dir, _ = train(config, tmp_path_factory.mktemp("assignment") / "run")
    return run_dir


@pytest.mark.parametrize("kind", ["discrete", "continuous", "assignment"])
def test_a_plain_mpe2_loop_reproduces_evaluate_json_to_the_last_digit(kind, request, capsys):
    run = request.getfixturevalue({"discrete": "finished_run", "continuous": "continuous_run",
                                   "assignment": "assignment_run"}[kind])
    capsys.readouterr()  # what training the run printed, where it trained now
    result = evaluate_json(capsys, str(run), "--episodes", "5", "--seed", "3")
    assert result["episode_seeds"] == [int(s) for s in np.random.SeedSequence(3).generate_state(5)]
    plain = plain_mpe2_returns(run, result["episode_seeds"])
    for agent in result["agents"]:
        assert result["returns"][agent] == [episode[agent] for episode in plain], agent  # floats, exactly
    # waves of fewer envs than episodes, and the mpe2 backend, play the same episodes
    in_waves = evaluate(load_policy(run), 5, seed=3, env_backend="mpe2", max_parallel=2)
    assert in_waves.returns.T.tolist() == [result["returns"][a] for a in result["agents"]]


def test_evaluate_json_holds_returns_seeds_and_their_summary(finished_run, capsys):
    result = evaluate_json(capsys, str(finished_run), "--episodes", "4", "--seed", "0")
    assert result["scenario"] == "simple_spread_v3" and result["seed"] == 0 and result["episodes"] == 4
    returns = np.array([result["returns"][a] for a in result["agents"]]).T
    assert result["return_sum"] == returns.sum(axis=1).tolist()
    summary = result["summary"]
    assert summary["mean_sum"] == pytest.approx(returns.sum(axis=1).mean())
    assert summary["mean"] == {a: pytest.approx(m) for a, m in zip(result["agents"], returns.mean(axis=0))}
    # the first m of n episodes are those of m
    assert evaluate_json(capsys, str(finished_run), "--episodes", "2")["return_sum"] == result["return_sum"][:2]


def test_gif_records_the_first_evaluated_episode(finished_run, tmp_path, capsys):
    result = evaluate_json(capsys, str(finished_run), "--episodes", "3", "--seed", "7")
    assert record_gif(load_policy(finished_run), tmp_path / "first.gif", seed=7) == result["return_sum"][0]


def decoded_frames(data: bytes) -> list[np.ndarray]:
    return [np.asarray(frame)[..., :3] for frame in imageio.mimread(data, format="GIF")]


def test_a_gif_of_few_colours_keeps_every_pixel_and_one_of_many_is_still_written():
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(200, 3), dtype=np.uint8)  # 200 colours, as an MPE frame's few
    frames = [colours[rng.integers(0, 200, size=(30, 40))] for _ in range(5)]
    assert all(np.array_equal(mine, frame) for mine, frame in zip(decoded_frames(encode_gif(frames, 10)), frames))
    noise = [rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8) for _ in range(5)]  # thousands of colours
    assert encode_gif(noise, 10) == imageio.mimsave("<bytes>", noise, format="GIF", duration=100, loop=0)


# --- policy files --------------------------------------------------------------------------------------------------


def test_a_default_runs_policy_file_is_small_and_loads_without_the_checkpoint(tmp_path):
    trainer = Trainer(Config(device="cpu"), tmp_path / "run")  # the defaults: simple_spread_v3, 64x64 actors
    trainer.open_outputs()[0].close()
    trainer.save()
    policy_file = tmp_path / "run" / "checkpoints" / POLICY_NAME
    assert policy_file.stat().st_size < 2**20
    (tmp_path / "run" / "checkpoints" / "checkpoint.pt").unlink()
    policy = load_policy(tmp_path / "run")
    obs = {a: np.random.default_rng(0).normal(size=(4, 18)).astype(np.float32) for a in policy.agents}
    assert all(np.array_equal(policy.act_batch(obs)[a], trainer.policy.act_batch(obs)[a]) for a in policy.agents)


def test_load_policy_reads_the_policy_file_first_and_the_checkpoint_of_older_runs(run_copy):
    checkpoints = run_copy / "checkpoints"
    weights = load_checkpoint(checkpoints / "checkpoint.pt")["learner"]["actors"]
    state = torch.load(checkpoints / POLICY_NAME, weights_only=True)
    assert state.keys() >= {"scenario", "env_kwargs", "agents", "action_specs", "config", "actors", "episodes"}
    assert all(torch.equal(state["actors"][name], weights[name]) for name in weights)
    assert "buffer" not in state and "learner" not in state
    state["actors"] = {name: torch.zeros_like(t) for name, t in state["actors"].items()}  # now tell them apart
    del state[DIGEST_KEY]
    save_torch_file(state, checkpoints / POLICY_NAME)
    assert all(p.abs().sum() == 0 for p in load_policy(run_copy).actors.parameters())
    (checkpoints / POLICY_NAME).unlink()  # a run from before policy files
    loaded = load_policy(run_copy).actors.state_dict()
    assert all(torch.equal(loaded[name], weights[name]) for name in weights)


def test_a_run_from_before_policy_files_resumes_and_gets_them(run_copy):
    checkpoints = run_copy / "checkpoints"
    state = torch.load(checkpoints / "checkpoint.pt", weights_only=True)
    del state["best_eval_return_sum"], state[DIGEST_KEY]  # neither was recorded then
    torch.save(state, checkpoints / "checkpoint.pt")
    (checkpoints / POLICY_NAME).unlink()
    (checkpoints / BEST_POLICY_NAME).unlink()
    _, completed = resume(run_copy, episodes=14)
    assert completed
    saved = load_checkpoint(checkpoints / "checkpoint.pt")
    assert saved["counters"]["episodes"] == 14
    assert torch.load(checkpoints / POLICY_NAME, weights_only=True)["episodes"] == 14
    assert saved["best_eval_return_sum"] == torch.load(checkpoints / BEST_POLICY_NAME,
                                                       weights_only=True)["eval_return_sum"]


def test_a_damaged_policy_file_is_refused_naming_it_rather_than_passed_over(run_copy):
    path = run_copy / "checkpoints" / POLICY_NAME
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(Exception, match=f"^{path}: not a readable policy file"):
        load_policy(run_copy)


def test_a_failed_policy_write_keeps_the_previous_file(run_copy, monkeypatch):
    path = run_copy / "checkpoints" / POLICY_NAME
    before = path.read_bytes()

    def full_disk(obj, file, *args, **kwargs):
        file.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    config = Config.load(run_copy / "config.json")
    policy = load_policy(run_copy)
    with pytest.raises(WriteError, match="No space left on device"):
        save_policy(policy_state(config, policy.agents, [18] * 3, [], policy.actors), path)
    assert path.read_bytes() == before and not list(path.parent.glob("*.tmp"))


def test_the_best_policy_file_holds_the_best_evaluation(finished_run):
    checkpoints = finished_run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [BEST_POLICY_NAME, "checkpoint.pt", POLICY_NAME]
    rows = metrics_rows(finished_run)
    best_row = max(rows, key=lambda row: float(row["eval_return_sum"]))
    best = torch.load(checkpoints / BEST_POLICY_NAME, weights_only=True)
    assert best["eval_return_sum"] == float(best_row["eval_return_sum"]) and best["episodes"] == int(best_row["episodes"])
    config = Config.load(finished_run / "config.json")
    again = evaluate(load_policy(checkpoints / BEST_POLICY_NAME), config.eval_episodes, config.seed + EVAL_SEED_OFFSET)
    assert again.mean_sum == best["eval_return_sum"]
    assert load_checkpoint(checkpoints / "checkpoint.pt")["best_eval_return_sum"] == best["eval_return_sum"]


def test_a_worse_evaluation_leaves_the_best_policy_file_as_it_was(tiny_config, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config, tmp_path / "run")
    writer, metrics = trainer.open_outputs()
    sums = iter([-10.0, -20.0, -5.0])
    monkeypatch.setattr(trainer_module, "evaluate", lambda *args: EvaluationResult(
        trainer.agents, np.array([[next(sums), 0.0, 0.0]])))
    best_file = tmp_path / "run" / "checkpoints" / BEST_POLICY_NAME
    kept = []
    for _ in range(3):
        trainer.evaluate_into(writer, metrics)
        kept.append(torch.load(best_file, weights_only=True))
        for parameter in trainer.learner.actors.parameters():  # the next evaluation sees other weights
            parameter.data.add_(1.0)
    writer.close()
    assert [k["eval_return_sum"] for k in kept] == [-10.0, -10.0, -5.0]
    assert all(torch.equal(kept[0]["actors"][n], kept[1]["actors"][n]) for n in kept[0]["actors"])
    assert not all(torch.equal(kept[0]["actors"][n], kept[2]["actors"][n]) for n in kept[0]["actors"])


# --- the replay buffer: one file, memory for what the run collects -------------------------------------------------


@pytest.mark.parametrize("env_kwargs", [{}, {"terminate_on_success": True}])
def test_the_buffer_holds_every_transition_the_run_collects_and_no_more_room(tiny_config, tmp_path, env_kwargs):
    config = dataclasses.replace(tiny_config, episodes=5, env_kwargs=env_kwargs, buffer_size=10**6, max_cycles=8)
    run_dir, _ = train(config, tmp_path / "run")
    state = load_checkpoint(run_dir / "checkpoints" / "checkpoint.pt")
    collected = state["counters"]["env_steps"]
    assert state["buffer"]["rows"].shape[0] == collected <= run_capacity(config)  # nothing overwritten
    assert run_capacity(config) == (-(-5 // 2) + 2) * 8 * 2
    assert run_capacity(Config()) == (-(-30_000 // 128) + 2) * 25 * 128 < Config().buffer_size  # a default run
    assert run_capacity(dataclasses.replace(config, buffer_size=64)) == 64


def test_a_full_buffer_saved_small_loads_into_a_larger_one_oldest_row_first():
    small = ReplayBuffer(4, [1], [1], torch.device("cpu"), seed=0, num_envs=2)
    for t in range(3):  # 6 rows into 4: the last two steps survive, the first of them at row 2
        rows = [np.full((2, 1), 10 * t + k, np.float32) for k in range(2)]
        small.add([np.array([[10 * t], [10 * t + 1]], np.float32)], [rows[0]], np.zeros((2, 1), np.float32),
                  [rows[1]], np.zeros(2), np.zeros(2))
    large = ReplayBuffer(8, [1], [1], torch.device("cpu"), seed=0, num_envs=2)
    large.load_state_dict(small.state_dict())
    assert large.storage[:4, 0].tolist() == [10, 11, 20, 21] and large.pos == 4 and len(large) == 4


# --- tensorboard ---------------------------------------------------------------------------------------------------


def test_event_tags_are_grouped_train_eval_losses_over_env_steps(finished_run):
    accumulator = events(finished_run)
    scalars = accumulator.Tags()["scalars"]
    assert {tag.split("/")[0] for tag in scalars} == {"train", "eval", "losses"}
    agents = ["agent_0", "agent_1", "agent_2"]
    assert {f"train/return/{a}" for a in agents + ["sum"]} <= set(scalars)
    assert {f"eval/return/{a}" for a in agents + ["sum"]} | {"train/episodes", "eval/episodes"} <= set(scalars)
    assert {f"losses/{a}/critic_loss" for a in agents} | {f"losses/{a}/actor_loss" for a in agents} <= set(scalars)
    # the diagnostics an update computes only where its stats are logged (MADDPG.update)
    assert {f"losses/{a}/policy_entropy" for a in agents} <= set(scalars)
    assert all(tag.split("/")[1] in agents for tag in scalars if tag.startswith("losses/"))
    assert not any("noise_std" in tag for tag in scalars)  # discrete actions: no Gaussian noise
    rows = metrics_rows(finished_run)
    evaluations = accumulator.Scalars("eval/return/sum")
    assert [e.step for e in evaluations] == [int(row["env_steps"]) for row in rows]  # x: env steps, from 0
    assert [e.value for e in evaluations] == pytest.approx([float(row["eval_return_sum"]) for row in rows])
    episodes = accumulator.Scalars("train/episodes")
    assert [e.value for e in episodes] == [2 * (i + 1) for i in range(6)] and episodes[-1].step == 12 * 25
    gifs = accumulator.Images("eval/episode")
    assert [g.step for g in gifs] == [6 * 25, 12 * 25]
    assert gifs[-1].encoded_image_string == (finished_run / "gifs" / "episode_0000012.gif").read_bytes()


def test_continuous_runs_log_their_exploration_noise(continuous_run):
    assert "train/noise_std" in events(continuous_run).Tags()["scalars"]


def test_competitive_runs_show_each_teams_return_in_the_bar_and_the_curves(tiny_config, tmp_path, capsys,
                                                                          monkeypatch):
    config = dataclasses.replace(tiny_config, scenario="simple_adversary_v3", episodes=4, eval_interval=4)
    trainer = Trainer(config, tmp_path / "run")
    returns, shown = [], []
    collect_step = trainer.collect_step
    trainer.collect_step = lambda: returns.extend(finished := collect_step()) or finished
    finish = progressbar.ProgressBar.finish
    monkeypatch.setattr(progressbar.ProgressBar, "finish",
                        lambda bar, **kwargs: shown.append(dict(bar.variables)) or finish(bar, **kwargs))
    assert trainer.train()
    returns = np.array(returns)  # agents adversary_0, agent_0, agent_1
    assert shown == [{"adversaries": pytest.approx(returns[:, 0].mean()),
                      "good": pytest.approx(returns[:, 1:].sum(axis=1).mean())}]
    accumulator = events(tmp_path / "run")
    for section in ("train", "eval"):
        team = accumulator.Scalars(f"{section}/return/team_good")[-1].value
        agents = [accumulator.Scalars(f"{section}/return/agent_{i}")[-1].value for i in range(2)]
        assert team == pytest.approx(sum(agents))
        assert accumulator.Scalars(f"{section}/return/team_adversaries")[-1].value == \
            accumulator.Scalars(f"{section}/return/adversary_0")[-1].value
    out = capsys.readouterr().out
    assert "team adversaries" in out and "team good" in out  # the final evaluation


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_serves_the_runs_tags(finished_run):
    port = free_port()
    executable = Path(sys.executable).with_name("tensorboard")
    server = subprocess.Popen([str(executable), "--logdir", str(finished_run.parent), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, tags = time.monotonic() + 60, {}
        while time.monotonic() < deadline and "eval/return/sum" not in str(tags):
            assert server.poll() is None, server.communicate()[1]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=5) as reply:
                    tags = json.load(reply)
            except OSError:
                time.sleep(0.5)
        assert "eval/return/sum" in tags.get("run", {}), tags
    finally:
        server.kill()
        server.wait(timeout=10)


# --- the end of a run ----------------------------------------------------------------------------------------------


def test_the_final_evaluation_is_printed_and_is_metrics_last_row(tiny_config, tmp_path, capsys):
    run_dir, _ = train(tiny_config, tmp_path / "run")
    out = capsys.readouterr().out
    last = metrics_rows(run_dir)[-1]
    assert f"final evaluation after 12 episodes (300 env steps): 2 greedy episodes, evaluate seed {EVAL_SEED_OFFSET}" in out
    assert f"  {'sum':<16} {float(last['eval_return_sum']):10.3f}" in out


@pytest.mark.parametrize("episodes, env_kwargs, line", [
    (5, {}, "episodes: 6 will run: --episodes 5 in whole rounds of the 2 envs (--num-envs), whose 25-step episodes "
            "end together"),
    (4, {}, None),
    (5, {"terminate_on_success": True}, "episodes: 5 to 6 will run: the 2 envs (--num-envs) step together"),
])
def test_a_run_says_at_start_how_many_episodes_it_trains(tiny_config, tmp_path, capsys, episodes, env_kwargs, line):
    config = dataclasses.replace(tiny_config, episodes=episodes, env_kwargs=env_kwargs, max_cycles=25)
    run_dir, _ = train(config, tmp_path / "run")
    err = capsys.readouterr().err
    trained = load_checkpoint(run_dir / "checkpoints" / "checkpoint.pt")["counters"]["episodes"]
    if line is None:
        assert "will run" not in err and trained == episodes
    else:
        assert err.splitlines()[0].startswith(line)
        assert trained == 6 if not env_kwargs else episodes <= trained <= episodes + 1


def test_a_run_shorter_than_its_eval_interval_draws_a_curve(tiny_config, tmp_path):
    run_dir, _ = train(dataclasses.replace(tiny_config, episodes=4, eval_interval=1000), tmp_path / "run")
    assert [e.step for e in events(run_dir).Scalars("eval/return/sum")] == [0, 4 * 25]
    shutil.rmtree(run_dir)
