"""Demonstrations: the .npz format round trip, every refusal of a bad file, collection, the scripted expert and
`main.py collect`."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import main
from envs import SCENARIOS, make_parallel_env, make_vector_env
from maddpg_gail.demonstrations import (
    DIGEST_KEY,
    Demonstrations,
    DemonstrationsError,
    ExpertData,
    arrays_digest,
    collect,
    collect_to_file,
    describe,
    env_kwargs_differences,
    file_digest,
    load_demonstrations,
    save_demonstrations,
    summary,
)
from maddpg_gail.evaluation import RandomPolicy, evaluate
from envs.experts import ScriptedSpreadExpert
from maddpg_gail.networks import ActionSpec, Actor
from maddpg_gail.policy import Policy
from maddpg_gail.trainer import train

ROOT = Path(__file__).resolve().parents[1]
SPREAD = "simple_spread_v3"


def spread_kwargs(continuous: bool, max_cycles: int = 25, **options) -> dict:
    return {**options, "max_cycles": max_cycles, "continuous_actions": continuous}


def random_policy(scenario: str, env_kwargs: dict, seed: int = 0) -> Policy:
    """An untrained greedy policy: a deterministic actor whose actions vary with the observation."""
    torch.manual_seed(seed)
    env = make_parallel_env(scenario, env_kwargs)
    agents = list(env.possible_agents)
    actors = nn.ModuleList(
        Actor(env.observation_space(a).shape[0], ActionSpec.from_space(env.action_space(a)), (16,)) for a in agents
    )
    env.close()
    return Policy(scenario, env_kwargs, agents, actors)


@pytest.fixture(scope="module", params=[False, True], ids=["discrete", "continuous"])
def dataset(request, tmp_path_factory) -> Path:
    """A small valid file of the scripted expert: 3 episodes of 5 steps."""
    expert = ScriptedSpreadExpert(spread_kwargs(request.param, max_cycles=5))
    path = tmp_path_factory.mktemp("demos") / "spread.npz"
    save_demonstrations(collect(expert, SPREAD, expert.env_kwargs, episodes=3, seed=0), path)
    return path


def assert_same(a: Demonstrations, b: Demonstrations) -> None:
    assert (a.scenario, a.env_kwargs, a.agents, a.source) == (b.scenario, b.env_kwargs, b.agents, b.source)
    for field in ("obs", "actions", "rewards", "next_obs"):
        for agent in a.agents:
            x, y = getattr(a, field)[agent], getattr(b, field)[agent]
            assert x.dtype == y.dtype and np.array_equal(x, y), (field, agent)
    assert a.episode_id.dtype == b.episode_id.dtype == np.int64 and np.array_equal(a.episode_id, b.episode_id)


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_save_then_load_gives_the_same_arrays_and_meta(tmp_path, continuous):
    expert = ScriptedSpreadExpert(spread_kwargs(continuous, max_cycles=4, N=2))
    demos = collect(expert, SPREAD, expert.env_kwargs, episodes=2, seed=1)
    demos.source["note"] = "from a test"
    path = tmp_path / "new" / "folder" / "demos.npz"  # parent folders are created
    save_demonstrations(demos, path)
    assert [p.name for p in path.parent.iterdir()] == ["demos.npz"]  # no ".npz.npz", no temporary file left
    loaded = load_demonstrations(path, SPREAD, expert.env_kwargs)
    assert_same(demos, loaded)
    assert loaded.actions["agent_0"].dtype == (np.float32 if continuous else np.int64)
    with np.load(path, allow_pickle=False) as archive:  # the documented layout, readable without this module
        meta = json.loads(str(archive["meta"]))
        assert archive["meta"].shape == () and archive["meta"].dtype.kind == "U"
        assert set(archive.files) == {"meta", "episode_id", "sha256"} | {
            f"{prefix}/agent_{i}" for prefix in ("obs", "act", "rew", "next_obs") for i in range(2)
        }
    assert meta == {"format_version": 1, "scenario": SPREAD, "env_kwargs": expert.env_kwargs,
                    "agents": ["agent_0", "agent_1"], "source": demos.source}


def rewrite(source: Path, target: Path, change) -> Path:
    """A copy of a valid file with `change(arrays)` applied to its arrays (a dict of key -> array), as by someone
    who also recomputed its digest: the other checks must still catch it."""
    with np.load(source, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files if key != DIGEST_KEY}
    change(arrays)
    with open(target, "wb") as file:
        np.savez(file, **arrays, **{DIGEST_KEY: np.array(arrays_digest(arrays))})
    return target


def set_meta(**fields):
    def change(arrays):
        arrays["meta"] = np.array(json.dumps({**json.loads(str(arrays["meta"])), **fields}))

    return change


def set_value(key: str, index, value):
    def change(arrays):
        arrays[key] = arrays[key].copy()
        arrays[key][index] = value

    return change


# (what is wrong, how to make it, fragments the one-line error must hold)
BAD_ARRAYS = [
    ("wrong shape", lambda a: a.update({"obs/agent_1": a["obs/agent_1"][:, :-1]}), ["'obs/agent_1'", "float32 [15, 18]",
                                                                                  "[15, 17]"]),
    ("fewer rows", lambda a: a.update({"rew/agent_0": a["rew/agent_0"][:-1]}), ["'rew/agent_0'", "[15]", "[14]"]),
    ("wrong dtype", lambda a: a.update({"rew/agent_2": a["rew/agent_2"].astype(np.float64)}),
     ["'rew/agent_2'", "expected float32", "got float64"]),
    ("NaN", set_value("next_obs/agent_2", (3, 0), np.nan), ["'next_obs/agent_2'", "finite", "row 3"]),
    ("infinity", set_value("obs/agent_0", (7, 5), np.inf), ["'obs/agent_0'", "finite", "row 7"]),
    ("missing key", lambda a: a.pop("act/agent_2"), ["'act/agent_2' is missing"]),
    ("unknown agent", lambda a: a.update({"obs/agent_3": a["obs/agent_0"]}),
     ["'obs/agent_3' is unknown (agents are agent_0, agent_1, agent_2; keys are meta, episode_id and obs/, act/, rew/, "
      "next_obs/ per agent)"]),
    ("actions short of a row", lambda a: a.update({"act/agent_0": a["act/agent_0"][:-1]}),
     ["key 'act/agent_0': expected", "got", "[14"]),
    ("object array", lambda a: a.update({"rew/agent_0": np.array([{}] * 15, dtype=object)}),
     ["key 'rew/agent_0' does not read (ValueError: Object arrays cannot be loaded when allow_pickle=False)"]),
    ("unknown agent in meta", set_meta(agents=["agent_0", "agent_1", "agent_2", "agent_3"]),
     ["'meta'", "agent_3", "are not the env's"]),
    ("episode ids decreasing", set_value("episode_id", 6, 0), ["'episode_id'", "non-decreasing", "row 6"]),
    ("one episode id decreasing", lambda a: a.update({"episode_id": np.where(np.arange(15) == 6, 0, np.arange(15))}),
     ["'episode_id'", "got 0 after 5 at row 6"]),
    ("episode ids not int64", lambda a: a.update({"episode_id": a["episode_id"].astype(np.int32)}),
     ["'episode_id'", "expected int64"]),
    ("empty dataset", lambda a: a.update({k: v[:0] for k, v in a.items() if k != "meta"}), ["'episode_id'", "empty"]),
    ("missing meta", lambda a: a.pop("meta"), ["'meta' is missing"]),
    ("meta not JSON", lambda a: a.update({"meta": np.array("{'scenario'")}), ["'meta'", "not JSON"]),
    ("meta without agents", lambda a: a.update({"meta": np.array(json.dumps({"format_version": 1}))}),
     ["'meta'", "lacks scenario, env_kwargs, agents (expected format_version, scenario, env_kwargs, agents and source)"]),
    ("meta an array", lambda a: a.update({"meta": np.array(["{}", "{}"])}),
     ["'meta': expected a 0-d unicode array (a JSON string), got <U2 [2]"]),
    ("meta not an object", lambda a: a.update({"meta": np.array("[1]")}), ["'meta': expected a JSON object, got list"]),
    ("scenario not a string", set_meta(scenario=3), ["'meta': scenario must be a JSON str, got 3"]),
    ("env kwargs not an object", set_meta(env_kwargs=[]), ["'meta': env_kwargs must be a JSON dict, got []"]),
    ("agents not a list", set_meta(agents="agent_0"), ["'meta': agents must be a JSON list, got 'agent_0'"]),
    ("other format version", set_meta(format_version=2), ["'meta'", "format_version 2", "supported 1"]),
    ("unknown scenario", set_meta(scenario="simple_spreed_v3"),
     ["'meta'", "'simple_spreed_v3'", f"(expected one of {', '.join(SCENARIOS)})"]),
    ("env kwargs that do not build", set_meta(env_kwargs={"local_ratio": 7}),
     ["'meta'", "does not build with env_kwargs {'local_ratio': 7} (AssertionError: local_ratio is a proportion"]),
]


@pytest.mark.parametrize("what, change, fragments", BAD_ARRAYS, ids=[case[0] for case in BAD_ARRAYS])
def test_a_bad_dataset_is_refused_naming_the_file_and_the_key(dataset, tmp_path, what, change, fragments):
    bad = rewrite(dataset, tmp_path / "bad.npz", change)
    with pytest.raises(DemonstrationsError) as refused:
        load_demonstrations(bad)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{bad}: ")
    for fragment in fragments:
        assert fragment in message


def test_an_action_outside_the_action_space_is_refused(dataset, tmp_path):
    continuous = load_demonstrations(dataset).actions["agent_1"].ndim == 2
    value, expected = (1.5, "[0.0, 1.0]") if continuous else (5, "[0, 4]")
    for bad_value in (value, -1):
        bad = rewrite(dataset, tmp_path / "bad.npz", set_value("act/agent_1", 4, bad_value))
        with pytest.raises(DemonstrationsError, match=rf"'act/agent_1'.*{re.escape(expected)}.*row 4"):
            load_demonstrations(bad)


def test_a_dataset_of_another_scenario_or_other_env_kwargs_is_refused(dataset):
    demos = load_demonstrations(dataset)
    with pytest.raises(DemonstrationsError, match=r"key 'meta': the demonstrations are of simple_spread_v3, not "
                                                  r"simple_tag_v3"):
        load_demonstrations(dataset, "simple_tag_v3", demos.env_kwargs)
    with pytest.raises(DemonstrationsError, match=r"'meta'.*N=3 where 4 was expected"):
        load_demonstrations(dataset, SPREAD, {**demos.env_kwargs, "N": 4})
    with pytest.raises(DemonstrationsError, match=r"'meta'.*max_cycles=5 where 25 was expected"):
        load_demonstrations(dataset, SPREAD, {**demos.env_kwargs, "max_cycles": 25})
    with pytest.raises(DemonstrationsError, match=r"env_kwargs have N=3 where 4 was expected; max_cycles=5 where 25 "):
        load_demonstrations(dataset, SPREAD, {**demos.env_kwargs, "N": 4, "max_cycles": 25})
    # an option the scenario does not have is a difference too, on either side
    assert env_kwargs_differences(SPREAD, {"colour": "red"}, {}) == ['colour="red" where null was expected']
    assert env_kwargs_differences(SPREAD, {}, {"colour": "red"}) == ['colour=null where "red" was expected']
    # Defaults given or left out build the same env: accepted.
    load_demonstrations(dataset, SPREAD, {**demos.env_kwargs, "N": 3, "local_ratio": 0.5})


DAMAGES = {"truncated": "truncated or damaged (BadZipFile: File is not a zip file)", "empty": "the file is empty", "not npz": "not an .npz file",
           "bit flip": "does not read (BadZipFile: Bad CRC-32"}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_file_is_refused_with_a_clear_error(dataset, tmp_path, damage):
    data = dataset.read_bytes()
    bad = tmp_path / "bad.npz"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "not npz":
        bad.write_text("episode,return\n0,-20\n")
    else:  # a byte of the first array: the zip's CRC check catches it
        flipped = bytearray(data)
        flipped[200] ^= 0xFF
        bad.write_bytes(bytes(flipped))
    with pytest.raises(DemonstrationsError) as refused:
        load_demonstrations(bad)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{bad}: ")
    assert DAMAGES[damage] in message
    with pytest.raises(DemonstrationsError, match="no demonstrations file there"):
        load_demonstrations(tmp_path / "missing.npz")


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_collect_records_contiguous_whole_episodes_with_the_returns_evaluate_reports(continuous):
    env_kwargs = spread_kwargs(continuous, max_cycles=6)
    policy = random_policy(SPREAD, env_kwargs)
    episodes = 7  # waves of 3, 3 and 1 envs: the ids of one wave's episodes are not interleaved with others
    demos = collect(policy, SPREAD, env_kwargs, episodes, seed=4, max_parallel=3)
    assert demos.num_transitions == episodes * 6 and demos.num_episodes == episodes
    assert np.array_equal(demos.episode_id, np.repeat(np.arange(episodes), 6))
    result = evaluate(policy, episodes, seed=4, max_parallel=3)
    # the dataset stores float32 rewards, evaluate sums mpe2's float64 ones
    np.testing.assert_allclose(demos.episode_returns(), result.returns, rtol=1e-6)
    for agent in demos.agents:
        obs, next_obs = demos.obs[agent].reshape(episodes, 6, -1), demos.next_obs[agent].reshape(episodes, 6, -1)
        assert np.array_equal(obs[:, 1:], next_obs[:, :-1])  # next_obs is the true successor within an episode
        assert np.all(obs[:, 0, :2] == 0.0)  # each episode starts at rest: from a reset
        assert not np.array_equal(next_obs[:, -1], obs[:, 0])  # the last one is the final observation, not a reset
    # The mpe2 backend records the very same data.
    on_mpe2 = collect(policy, SPREAD, env_kwargs, episodes, seed=4, env_backend="mpe2", max_parallel=3)
    assert on_mpe2.source.pop("env_backend") == "mpe2" and demos.source.pop("env_backend") == "batched"
    assert_same(demos, on_mpe2)



def test_expert_data_gives_network_actions_and_draws_reproducibly(dataset):
    demos = load_demonstrations(dataset)
    specs = [ActionSpec.from_space(make_parallel_env(SPREAD, demos.env_kwargs).action_space(a)) for a in demos.agents]
    data = ExpertData(demos, specs, torch.device("cpu"), seed=0)
    obs, actions = data.sample(8)
    assert [o.shape for o in obs] == [(8, 18)] * 3 and [a.shape for a in actions] == [(8, 5)] * 3
    if specs[0].discrete:  # one-hot rows of the recorded actions
        assert torch.equal(actions[0].sum(dim=1), torch.ones(8))
    seen = torch.cat([batch_obs[0] for batch_obs, _ in data.epoch(4)])
    assert len(seen) == demos.num_transitions
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, demos.obs["agent_0"].tolist()))  # each row once
    state = data.state_dict()
    first = data.sample(8)[0][0]
    data.load_state_dict(state)
    assert torch.equal(data.sample(8)[0][0], first)
    # the order of an epoch comes from the data's own generator, not torch's: a resumed run replays it
    twin = ExpertData(demos, specs, torch.device("cpu"), seed=0)
    orders = []
    for expert_data, torch_seed in ((data, 1), (twin, 2)):
        expert_data.load_state_dict(state)
        torch.manual_seed(torch_seed)
        orders.append(torch.cat([batch_obs[0] for batch_obs, _ in expert_data.epoch(4)]))
    assert torch.equal(*orders)
    rows = {tuple(row) for row in torch.cat([data.sample(64)[0][0] for _ in range(10)]).tolist()}
    assert rows == set(map(tuple, demos.obs["agent_0"].tolist()))  # every row can be drawn, the first one too


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_stochastic_actions_are_sampled_inside_the_action_space(continuous):
    env_kwargs = spread_kwargs(continuous)
    policy = random_policy(SPREAD, env_kwargs)
    obs = make_vector_env(SPREAD, env_kwargs, 64, "batched").reset(0)
    greedy = policy.act_batch(obs)
    torch.manual_seed(0)
    sampled = policy.act_batch(obs, stochastic=True)
    torch.manual_seed(0)
    again = policy.act_batch(obs, stochastic=True)
    for agent in policy.agents:
        assert sampled[agent].dtype == greedy[agent].dtype and sampled[agent].shape == greedy[agent].shape
        assert np.array_equal(sampled[agent], again[agent])  # torch's generator: seeded, reproducible
        assert not np.array_equal(sampled[agent], greedy[agent])
        if continuous:
            assert sampled[agent].min() >= 0.0 and sampled[agent].max() <= 1.0
            assert np.abs(sampled[agent] - greedy[agent]).max() < 6 * policy.noise_std
        else:
            assert sampled[agent].min() >= 0 and sampled[agent].max() < 5


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_the_scripted_expert_beats_random_actions_by_far(continuous):
    expert = ScriptedSpreadExpert(spread_kwargs(continuous))
    expert_return = evaluate(expert, 20, seed=1).mean_sum
    random_return = evaluate(RandomPolicy(SPREAD, expert.env_kwargs, seed=1), 20, seed=1).mean_sum
    assert expert_return > -45 and expert_return > random_return + 30, (expert_return, random_return)


@pytest.mark.parametrize("N, continuous", [(3, False), (4, True), (2, False)])
def test_the_scripted_expert_acts_on_its_own_observation_only(N, continuous):
    expert = ScriptedSpreadExpert(spread_kwargs(continuous, N=N))
    env = make_vector_env(SPREAD, expert.env_kwargs, 32, "batched")
    obs = env.reset(0)
    for _ in range(3):
        obs = env.step(expert.act_batch(obs)).observations  # moving, so that velocities are not all zero
    before = expert.act_batch(obs)
    changed = dict(obs, agent_1=obs["agent_1"] + np.random.default_rng(0).normal(0, 0.5, obs["agent_1"].shape)
                   .astype(np.float32))
    after = expert.act_batch(changed)
    for agent in expert.agents:
        if agent == "agent_1":
            assert not np.array_equal(before[agent], after[agent])
        else:
            assert np.array_equal(before[agent], after[agent])
    space = env.action_spaces["agent_0"]
    assert all(space.contains(action) for action in before["agent_0"])


def test_the_scripted_expert_plays_the_plain_mpe2_env_and_refuses_partial_observations():
    expert = ScriptedSpreadExpert(spread_kwargs(False, max_cycles=10))
    env = make_parallel_env(SPREAD, expert.env_kwargs)
    observations, _ = env.reset(seed=0)
    steps = 0
    while env.agents:
        actions = expert.act(observations)
        batched = expert.act_batch({a: o[None] for a, o in observations.items()})
        for agent, action in actions.items():  # one env's action: the batched one, as the env takes it
            assert type(action) is int and env.action_space(agent).contains(action)
            assert action == batched[agent][0]
        observations, *_ = env.step(actions)
        steps += 1
    assert steps == 10
    with pytest.raises(ValueError, match="full observations"):
        ScriptedSpreadExpert({"num_agent_neighbors": 1})


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "collect", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def refused(capsys, *args: str) -> str:
    """`main.py collect ARGS` in this process: it must exit 2 with one line on stderr, which is returned."""
    with pytest.raises(SystemExit) as exit_:
        raise SystemExit(main.main(["collect", *args]))  # the parser exits; a bad checkpoint returns the code
    assert exit_.value.code == main.USAGE_ERROR
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err


def test_collect_command_from_a_trained_run_and_from_the_scripted_expert(tiny_config, tmp_path, capsys):
    run_dir, _ = train(tiny_config, tmp_path / "run")
    capsys.readouterr()  # training's progress lines
    result = cli(tmp_path, "run", "--episodes", "4", "--out", "demos/policy.npz", "--stochastic", "--seed", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{Path('demos/policy.npz')}: 100 transitions, 4 episodes of {SPREAD} (")
    assert [line.split()[0] for line in lines[2:6]] == ["agent_0", "agent_1", "agent_2", "sum"]
    demos = load_demonstrations(tmp_path / "demos" / "policy.npz", SPREAD, tiny_config.parallel_env_kwargs())
    assert demos.source["checkpoint"] == "run" and demos.source["stochastic"] is True
    assert float(lines[5].split()[1]) == pytest.approx(demos.episode_returns().sum(axis=1).mean(), abs=1e-3)

    existing = tmp_path / "demos" / "policy.npz"
    before = existing.read_bytes()
    err = refused(capsys, str(run_dir), "--out", str(existing))
    assert f"argument --out: {existing} exists; use --overwrite" in err
    assert existing.read_bytes() == before
    assert "no checkpoint there" in refused(capsys, str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.npz"))
    assert "plays simple_spread_v3 only, not simple_tag_v3" in refused(
        capsys, "--expert", "scripted", "--scenario", "simple_tag_v3", "--out", str(tmp_path / "x.npz"))
    assert "--scenario: only with --expert" in refused(
        capsys, str(run_dir), "--scenario", SPREAD, "--out", str(tmp_path / "x.npz"))
    assert not (tmp_path / "x.npz").exists()

    assert main.main(["collect", "--expert", "scripted", "--env-kwargs", "N=2", "--continuous-actions",
                      "--max-cycles", "10", "--episodes", "3", "--out", str(existing), "--overwrite"]) == 0
    assert "30 transitions, 3 episodes" in capsys.readouterr().out
    demos = load_demonstrations(existing, SPREAD, spread_kwargs(True, max_cycles=10, N=2))
    assert demos.source["expert"] == "scripted" and demos.agents == ["agent_0", "agent_1"]


@pytest.mark.parametrize("source", ["greedy controller, 100 episodes", 7, 0.5, None, True, ["a", {"b": 1}],
                                    {"nested": {"seeds": [0, 1]}}], ids=lambda value: type(value).__name__)
def test_source_may_be_any_json_value_and_survives_a_round_trip(dataset, tmp_path, source):
    loaded = load_demonstrations(rewrite(dataset, tmp_path / "any.npz", set_meta(source=source)))
    assert loaded.source == source and type(loaded.source) is type(source)
    save_demonstrations(loaded, tmp_path / "again.npz")
    assert_same(loaded, load_demonstrations(tmp_path / "again.npz"))


def test_meta_keys_outside_the_format_are_kept_on_a_round_trip_and_left_out_of_the_rest(dataset, tmp_path):
    extra = {"created": "2026-12-02", "expert": {"kind": "lookahead", "depth": 3}, "notes": None}
    plain = load_demonstrations(dataset)
    loaded = load_demonstrations(rewrite(dataset, tmp_path / "extra.npz", set_meta(**extra)))
    assert loaded.extra_meta == extra and plain.extra_meta == {}
    assert_same(plain, loaded)  # the arrays and the format's own meta are those of the file without them
    save_demonstrations(loaded, tmp_path / "again.npz")
    with np.load(tmp_path / "again.npz", allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
    assert {key: meta[key] for key in extra} == extra and meta["scenario"] == SPREAD
    assert load_demonstrations(tmp_path / "again.npz").extra_meta == extra


def test_saving_refuses_extra_meta_that_would_hide_a_key_of_the_format(dataset, tmp_path):
    demos = load_demonstrations(dataset)
    demos.extra_meta = {"scenario": "simple_tag_v3", "mine": 1}
    with pytest.raises(ValueError, match="extra_meta may not hold the format's own meta keys, got scenario$"):
        save_demonstrations(demos, tmp_path / "clash.npz")
    assert not (tmp_path / "clash.npz").exists()


def test_a_file_without_source_loads_with_an_empty_one(dataset, tmp_path):
    def drop_source(arrays):
        meta = json.loads(str(arrays["meta"]))
        del meta["source"]
        arrays["meta"] = np.array(json.dumps(meta))

    assert load_demonstrations(rewrite(dataset, tmp_path / "plain.npz", drop_source)).source == {}


def test_saving_casts_to_the_documented_dtypes(tmp_path):
    """Arrays of other dtypes (float64, int32) are written as the format says, so the file loads."""
    expert = ScriptedSpreadExpert(spread_kwargs(False, max_cycles=3, N=2))
    demos = collect(expert, SPREAD, expert.env_kwargs, episodes=2, seed=0)
    wide = Demonstrations(demos.scenario, demos.env_kwargs, demos.agents,
                          *({a: v.astype(dtype) for a, v in field.items()} for field, dtype in
                            [(demos.obs, np.float64), (demos.actions, np.int32), (demos.rewards, np.float64),
                             (demos.next_obs, np.float64)]), demos.episode_id.astype(np.int32), demos.source)
    save_demonstrations(wide, tmp_path / "d.npz")
    assert_same(demos, load_demonstrations(tmp_path / "d.npz"))


def test_describe_keeps_the_first_sentence_of_an_error_up_to_160_characters():
    assert describe(ValueError("bad header. Try again. Or not")) == "ValueError: bad header"
    assert describe(OSError("x" * 200)) == "OSError: " + "x" * 160


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path):
    (tmp_path / "f").write_bytes(b"maddpg")
    assert file_digest(tmp_path / "f") == hashlib.sha256(b"maddpg").hexdigest()


def test_collect_records_its_source_and_clips_box_actions_to_what_the_env_applies():
    class Overshooting:  # continuous actions outside the Box(0, 1): the env clips them
        def act_batch(self, observations):
            return {a: np.tile(np.array([[-0.5, 0.25, 1.5, 2.0, 0.5]], np.float32), (len(o), 1))
                    for a, o in observations.items()}

    kwargs = spread_kwargs(True, max_cycles=3, N=2)
    demos = collect(Overshooting(), SPREAD, kwargs, episodes=2, seed=4)
    assert demos.source == {"actor": "Overshooting", "episodes": 2, "seed": 4, "env_backend": "batched"}
    assert np.array_equal(demos.actions["agent_1"], np.tile(np.array([[0.0, 0.25, 1.0, 1.0, 0.5]], np.float32), (6, 1)))


def test_more_episodes_than_parallel_envs_are_the_episodes_evaluate_plays():
    expert = ScriptedSpreadExpert(spread_kwargs(False, max_cycles=2, N=2))
    demos = collect(expert, SPREAD, expert.env_kwargs, episodes=51, seed=3)  # 50 envs at a time, by default
    np.testing.assert_allclose(demos.episode_returns().sum(axis=1), evaluate(expert, 51, seed=3).returns.sum(axis=1))


@pytest.mark.parametrize("stochastic", [False, True])
def test_collect_to_file_saves_what_it_collects_with_its_source(tmp_path, stochastic):
    policy = random_policy(SPREAD, spread_kwargs(False, max_cycles=4, N=2))
    options = {"stochastic": True} if stochastic else {}  # greedy by default
    demos = collect_to_file(policy, tmp_path / "d.npz", episodes=3, seed=5, source={"run": "somewhere"}, **options)
    loaded = load_demonstrations(tmp_path / "d.npz", SPREAD, policy.env_kwargs)
    assert_same(demos, loaded)
    assert loaded.source == {"actor": "Policy", "episodes": 3, "seed": 5, "env_backend": "batched",
                             "stochastic": stochastic, "run": "somewhere"}
    again = collect_to_file(policy, tmp_path / "e.npz", episodes=3, seed=5, stochastic=stochastic)
    assert np.array_equal(again.actions["agent_0"], demos.actions["agent_0"])  # the same seed, the same file
    greedy = collect(policy, SPREAD, policy.env_kwargs, episodes=3, seed=5)
    assert np.array_equal(greedy.actions["agent_0"], demos.actions["agent_0"]) != stochastic


def test_summary_names_the_file_and_the_mean_returns(tmp_path):
    demos = Demonstrations(SPREAD, {"N": 2}, ["agent_0", "agent_1"],
                           obs={}, actions={}, rewards={"agent_0": np.array([1.0, 2.0, -4.0], np.float32),
                                                        "agent_1": np.array([0.5, 0.5, 0.0], np.float32)},
                           next_obs={}, episode_id=np.array([0, 0, 1]))
    (tmp_path / "small.npz").write_bytes(b"x" * 3000)
    (tmp_path / "large.npz").write_bytes(b"x" * 2**20)  # 1 MiB exactly: counted in MiB
    assert summary(demos, tmp_path / "small.npz") == "\n".join([
        f"{tmp_path / 'small.npz'}: 3 transitions, 2 episodes of {SPREAD} (2.9 KiB)",
        "mean return per episode:",
        "  agent_0              -0.500",
        "  agent_1               0.500",
        "  sum                   0.000  (std 4.000)",
    ])
    assert summary(demos, tmp_path / "large.npz").splitlines()[0].endswith("(1.0 MiB)")
