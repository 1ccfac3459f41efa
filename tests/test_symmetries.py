"""envs/symmetries.py: turning a world and its actions commutes with observing and stepping it."""

import numpy as np
import pytest
import torch

from envs.batched import BatchedVectorEnv
from envs.symmetries import ELEMENTS, SYMMETRIC_SCENARIOS, plane_symmetries, turn

NUM_ENVS = 8


def symmetries_of(env: BatchedVectorEnv, scenario: str, options: dict):
    agents = list(env.action_spaces)
    action_dims = [space.n if hasattr(space, "n") else space.shape[0] for space in env.action_spaces.values()]
    return agents, action_dims, plane_symmetries(scenario, options,
                                                 [env.observation_spaces[a].shape[0] for a in agents], action_dims)


def to_columns(action: np.ndarray, dim: int, discrete: bool) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.as_tensor(action), dim).float() if discrete else torch.as_tensor(action)


# every scenario with its defaults, and with other numbers of agents and landmarks
CASES = [(scenario, {}) for scenario in SYMMETRIC_SCENARIOS] + [
    ("simple_spread_v3", {"N": 4}), ("simple_tag_v3", {"num_good": 2, "num_adversaries": 2, "num_obstacles": 1}),
    ("simple_adversary_v3", {"N": 3})]


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("scenario, options", CASES, ids=[f"{s}{o or ''}" for s, o in CASES])
def test_turned_world_observes_and_steps_as_turned_observations(scenario, options, continuous):
    kwargs = {**options, "max_cycles": 25, "continuous_actions": continuous}
    env = BatchedVectorEnv(scenario, kwargs, NUM_ENVS)
    env.reset(seed=0)
    agents, action_dims, symmetries = symmetries_of(env, scenario, options)
    rng = np.random.default_rng(0)
    for _ in range(3):  # agents under way: velocities as well as positions to turn
        obs = env.step({a: sample(space, rng) for a, space in env.action_spaces.items()}).observations
    state = env.state_dict()
    actions = {a: sample(space, rng) for a, space in env.action_spaces.items()}
    after = env.step(actions)
    discrete = not continuous
    for g, element in enumerate(ELEMENTS):
        turned_state = {**state, "arrays": dict(state["arrays"])}
        for key in ("pos", "vel"):
            turned_state["arrays"][key] = turn(state["arrays"][key], element)
        twin = BatchedVectorEnv(scenario, kwargs, NUM_ENVS)
        twin.reset(seed=0)
        twin_obs = twin.load_state_dict(turned_state)
        index = torch.full((NUM_ENVS,), g)
        expected_obs, turned_actions = symmetries.apply(
            index, [torch.as_tensor(obs[a]) for a in agents],
            [to_columns(actions[a], d, discrete) for a, d in zip(agents, action_dims)])
        for a, expected in zip(agents, expected_obs):
            np.testing.assert_array_equal(twin_obs[a], expected.numpy(), err_msg=f"{element} {a}")
        twin_actions = {a: (t.argmax(1).numpy() if discrete else t.numpy()) for a, t in zip(agents, turned_actions)}
        twin_after = twin.step(twin_actions)
        expected_next, _ = symmetries.apply(index, [torch.as_tensor(after.observations[a]) for a in agents],
                                            [to_columns(actions[a], d, discrete) for a, d in zip(agents, action_dims)])
        for a, expected in zip(agents, expected_next):
            np.testing.assert_allclose(twin_after.observations[a], expected.numpy(), atol=1e-6, err_msg=f"{element} {a}")
            np.testing.assert_allclose(twin_after.rewards[a], after.rewards[a], atol=1e-6)


def sample(space, rng: np.random.Generator) -> np.ndarray:
    if hasattr(space, "n"):
        return rng.integers(0, space.n, NUM_ENVS)
    return rng.uniform(0, 1, (NUM_ENVS, *space.shape)).astype(np.float32)


def test_scenarios_and_spaces_without_a_known_layout_are_refused():
    with pytest.raises(ValueError, match="simple_push_v3"):  # its observations hold colours among the vectors
        plane_symmetries("simple_push_v3", {}, [8, 19], [5] * 2)
    with pytest.raises(ValueError, match="num_landmark_neighbors"):
        plane_symmetries("simple_spread_v3", {"num_landmark_neighbors": 2}, [14] * 3, [5] * 3)
    with pytest.raises(ValueError, match="num_agent_neighbors"):
        plane_symmetries("simple_tag_v3", {"num_agent_neighbors": 2}, [16] * 4, [5] * 4)
    with pytest.raises(ValueError, match="observation 15"):  # an odd number of columns cannot be (x, y) pairs
        plane_symmetries("simple_adversary_v3", {}, [8, 10, 15], [5] * 3)
    with pytest.raises(ValueError, match="action 50"):  # moves combined with speech: not the five moves
        plane_symmetries("simple_spread_v3", {}, [18] * 3, [50] * 3)


def test_augment_turns_all_agents_of_a_sample_alike_and_uses_every_symmetry():
    symmetries = plane_symmetries("simple_spread_v3", {}, [18] * 3, [5] * 3)
    n = 400
    obs = [torch.randn(n, 18) for _ in range(3)]
    actions = [torch.nn.functional.one_hot(torch.randint(0, 5, (n,)), 5).float() for _ in range(3)]
    turned = torch.cat(sum(symmetries.augment(obs, actions, torch.Generator().manual_seed(0)), []), dim=1)
    candidates = [torch.cat(sum(symmetries.apply(torch.full((n,), g), obs, actions), []), dim=1)
                  for g in range(len(ELEMENTS))]
    matches = torch.stack([(turned == candidate).all(dim=1) for candidate in candidates])  # [8, n]
    assert (matches.sum(dim=0) == 1).all()  # one element per sample, for the three agents together
    assert set(matches.float().argmax(dim=0).tolist()) == set(range(len(ELEMENTS)))
