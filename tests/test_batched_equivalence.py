"""The batched env backend against mpe2 itself: same seeds and actions must give the same bits."""

import io

import numpy as np
import pytest
import torch
from gymnasium import spaces

from envs import Mpe2VectorEnv, make_vector_env
from envs.batched import SCENARIO_CLASSES, BatchedVectorEnv

NUM_ENVS = 6
STEPS = 60  # with max_cycles 25: two auto-resets per env, more where an episode is cut shorter

CASES = [
    ("simple_spread_v3", {}),
    ("simple_spread_v3", {"N": 5, "local_ratio": 0.25, "max_cycles": 12}),
    ("simple_spread_v3", {"terminate_on_success": True}),
    ("simple_speaker_listener_v4", {}),
    ("simple_tag_v3", {"terminate_on_success": True}),
    ("simple_tag_v3", {"num_good": 2, "num_adversaries": 2, "num_obstacles": 3}),
    ("simple_adversary_v3", {}),
    ("simple_adversary_v3", {"N": 3, "max_cycles": 15}),
    ("simple_push_v3", {}),
    ("simple_reference_v3", {"local_ratio": 0.8}),
    ("simple_crypto_v3", {}),
    ("simple_v3", {}),
]


def assert_same_bits(expected: np.ndarray, actual: np.ndarray, what: str) -> None:
    """Equal values, dtype and shape, and equal bits (so +0.0 and -0.0 differ)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    np.testing.assert_array_equal(actual, expected, err_msg=what)
    assert actual.tobytes() == expected.tobytes(), f"{what}: equal values, different bits"


def assert_same_step(expected, actual, step: int) -> None:
    for field in ("observations", "next_observations", "rewards"):
        for agent, value in getattr(expected, field).items():
            assert_same_bits(value, getattr(actual, field)[agent], f"step {step} {field}[{agent}]")
    np.testing.assert_array_equal(actual.terminated, expected.terminated, err_msg=f"step {step} terminated")
    np.testing.assert_array_equal(actual.truncated, expected.truncated, err_msg=f"step {step} truncated")


def random_actions(env, rng: np.random.Generator) -> dict[str, np.ndarray]:
    actions = {}
    for agent, space in env.action_spaces.items():
        if isinstance(space, spaces.Discrete):
            actions[agent] = rng.integers(0, space.n, env.num_envs)
        else:
            actions[agent] = rng.random((env.num_envs, space.shape[0]), dtype=np.float32)
    return actions


def steered_actions(env: BatchedVectorEnv, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random actions, except that in most envs the movable agents steer: for the agents' centroid, so that
    bodies pile up and contact forces fire, or, in simple_spread ending on success, agent i for landmark i."""
    actions = random_actions(env, rng)
    pos = env.state["pos"]
    agent_pos = pos[:, : env.num_agents]
    if getattr(env.world, "terminate_on_success", False) and env.scenario == "simple_spread_v3":
        target = pos[:, env.num_agents :]
    else:
        target = agent_pos.mean(axis=1, keepdims=True)
    toward = target - agent_pos - 0.3 * env.state["vel"]  # [K, A, 2]; braking too, so as to stop on a target
    steered = rng.random(env.num_envs) < 0.7
    for i, (agent, body) in enumerate(zip(env.agents, env.world.agents)):
        if not body.movable:
            continue
        dx, dy = toward[:, i, 0], toward[:, i, 1]
        if env.continuous:
            move = (4 * np.stack([np.zeros_like(dx), -dx, dx, -dy, dy], axis=1)).clip(0, 1)
            actions[agent][steered, :5] = move[steered]
        else:
            move = np.where(np.abs(dx) > np.abs(dy), np.where(dx > 0, 2, 1), np.where(dy > 0, 4, 3))
            move[np.maximum(np.abs(dx), np.abs(dy)) < 0.03] = 0
            actions[agent][steered] = move[steered] + 5 * (actions[agent][steered] // 5)  # keep the utterance
    return actions


def touching(env: BatchedVectorEnv) -> int:
    """Envs in which two colliding bodies overlap, so that contact forces are large."""
    pos = env.state["pos"]
    pairs = env.contact_pairs
    return sum(
        int(np.sum(np.linalg.norm(pos[:, a] - pos[:, b], axis=1) < env.sizes[a] + env.sizes[b])) for a, b in pairs
    )


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize(("scenario", "kwargs"), CASES, ids=[f"{s}{k or ''}" for s, k in CASES])
def test_batched_steps_like_mpe2(scenario, kwargs, continuous):
    env_kwargs = {**kwargs, "continuous_actions": continuous}
    reference = Mpe2VectorEnv(scenario, env_kwargs, NUM_ENVS)
    batched = make_vector_env(scenario, env_kwargs, NUM_ENVS, backend="batched")
    assert isinstance(batched, BatchedVectorEnv)
    assert batched.agents == reference.agents
    assert batched.action_spaces == reference.action_spaces
    assert batched.observation_spaces == reference.observation_spaces

    expected, actual = reference.reset(seed=7), batched.reset(seed=7)
    for agent in reference.agents:
        assert_same_bits(expected[agent], actual[agent], f"reset observations[{agent}]")

    rng = np.random.default_rng(0)
    episodes = terminations = contacts = 0
    for step in range(STEPS):
        actions = steered_actions(batched, rng) if step % 3 else random_actions(batched, rng)
        expected, actual = reference.step(actions), batched.step(actions)
        assert_same_step(expected, actual, step)
        episodes += int(np.sum(actual.terminated | actual.truncated))
        terminations += int(np.sum(actual.terminated))
        contacts += touching(batched)
    assert episodes >= NUM_ENVS * 2  # auto-resets were compared too
    if batched.contact_pairs:
        assert contacts > 0  # contact forces were exercised
    if kwargs.get("terminate_on_success"):
        assert terminations > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_continuous_actions_outside_the_box_are_clipped_like_mpe2(dtype):
    """mpe2 clips what lies outside Box(0, 1), in the actions' own dtype; -0.0 must not leak into the state."""
    env_kwargs = {"continuous_actions": True}
    reference = Mpe2VectorEnv("simple_reference_v3", env_kwargs, 4)  # agents that both move and talk
    batched = make_vector_env("simple_reference_v3", env_kwargs, 4, backend="batched")
    reference.reset(seed=1), batched.reset(seed=1)
    rng = np.random.default_rng(2)
    for step in range(30):
        actions = {a: (rng.random((4, 15)) * 2 - 0.5).astype(dtype) for a in batched.agents}
        if step % 4 == 0:
            actions = {a: np.full_like(value, -0.0) for a, value in actions.items()}
        assert_same_step(reference.step(actions), batched.step(actions), step)


def checkpointed(state: dict) -> dict:
    """`state` after a round trip through a checkpoint file, loaded as the trainer loads it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("scenario", ["simple_spread_v3", "simple_speaker_listener_v4"])
def test_state_dict_resumes_exactly(scenario):
    env_kwargs = {"max_cycles": 10, "continuous_actions": scenario == "simple_speaker_listener_v4"}
    env = make_vector_env(scenario, env_kwargs, 4, backend="batched")
    rng = np.random.default_rng(1)
    env.reset(seed=3)
    for _ in range(13):  # mid-episode, after one auto-reset
        last = env.step(random_actions(env, rng))

    resumed = make_vector_env(scenario, env_kwargs, 4, backend="batched")
    observations = resumed.load_state_dict(checkpointed(env.state_dict()))
    for agent in env.agents:
        assert_same_bits(last.observations[agent], observations[agent], f"restored observations[{agent}]")
    for step in range(25):  # across more auto-resets: the generators were restored too
        actions = random_actions(env, rng)
        assert_same_step(env.step(actions), resumed.step(actions), step)


def test_state_dict_of_another_backend_is_refused():
    env = make_vector_env("simple_spread_v3", {}, 2, backend="batched")
    mpe2 = Mpe2VectorEnv("simple_spread_v3", {}, 2)
    mpe2.reset(seed=0)
    with pytest.raises(ValueError, match="batched"):
        env.load_state_dict(checkpointed(mpe2.state_dict()))


@pytest.mark.parametrize(
    ("scenario", "kwargs", "named"),
    [
        ("simple_spread_v3", {"num_agent_neighbors": 1}, "num_agent_neighbors=1"),
        ("simple_tag_v3", {"curriculum": True}, "curriculum=True"),
        ("simple_world_comm_v3", {}, "simple_world_comm_v3"),
    ],
)
def test_unsupported_options_fall_back_to_mpe2(scenario, kwargs, named, capsys):
    env = make_vector_env(scenario, kwargs, 2, backend="batched")
    assert isinstance(env, Mpe2VectorEnv)
    notice = capsys.readouterr().err.strip()
    assert len(notice.splitlines()) == 1 and named in notice and "mpe2" in notice
    reference = Mpe2VectorEnv(scenario, kwargs, 2)  # what the fallback must be: mpe2 with the same options
    assert env.observation_spaces == reference.observation_spaces
    first, expected = env.reset(seed=0), reference.reset(seed=0)
    for agent in env.agents:
        assert_same_bits(expected[agent], first[agent], f"reset observations[{agent}]")
    actions = random_actions(env, np.random.default_rng(0))
    assert_same_step(reference.step(actions), env.step(actions), 0)


def test_invalid_env_kwargs_are_errors_not_fallbacks():
    with pytest.raises(ValueError, match="does not accept"):
        make_vector_env("simple_spread_v3", {"n_agents": 3}, 2, backend="batched")


def test_every_batched_scenario_is_tested():
    assert {scenario for scenario, _ in CASES} == set(SCENARIO_CLASSES)
