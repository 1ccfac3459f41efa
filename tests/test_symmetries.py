"""envs/symmetries.py: turning or relabelling a world and its actions commutes with observing and stepping it."""

import numpy as np
import pytest
import torch

from conftest import all_orders
from envs.batched import BatchedVectorEnv
from envs.features import SYMMETRIC_SCENARIOS, plane_symmetries, relabellings, world_symmetries
from envs.symmetries import ELEMENTS, turn

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


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("n", [3, 4])
def test_relabelled_world_observes_and_steps_as_relabelled_observations(n, continuous):
    kwargs = {"N": n, "max_cycles": 25, "continuous_actions": continuous}
    env = BatchedVectorEnv("simple_spread_v3", kwargs, NUM_ENVS)
    env.reset(seed=0)
    agents, action_dims, _ = symmetries_of(env, "simple_spread_v3", {"N": n})
    relabel = relabellings("simple_spread_v3", {"N": n}, [env.observation_spaces[a].shape[0] for a in agents])
    rng = np.random.default_rng(0)
    for _ in range(3):  # agents under way, and close enough to others for some to collide
        env.step({a: sample(space, rng) for a, space in env.action_spaces.items()})
    state = env.state_dict()
    state["arrays"]["comm"] = torch.randn(state["arrays"]["comm"].shape, dtype=state["arrays"]["comm"].dtype)
    obs = env.load_state_dict(state)  # speech, which spread's silent agents never make, shows where it goes
    actions = {a: sample(space, rng) for a, space in env.action_spaces.items()}
    after = env.step(actions)
    discrete = not continuous
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):  # a different relabelling in every env
        landmark_order, agent_order = torch.rand(2, NUM_ENVS, n, generator=generator).argsort(dim=2)
        relabelled = {**state, "arrays": dict(state["arrays"])}
        arrays = relabelled["arrays"]
        envs = torch.arange(NUM_ENVS)[:, None]
        arrays["pos"] = torch.cat([state["arrays"]["pos"][envs, agent_order],
                                   state["arrays"]["pos"][envs, n + landmark_order]], dim=1)
        for key in ("vel", "comm"):
            arrays[key] = state["arrays"][key][envs, agent_order]
        twin = BatchedVectorEnv("simple_spread_v3", kwargs, NUM_ENVS)
        twin.reset(seed=0)
        twin_obs = twin.load_state_dict(relabelled)
        columns = [to_columns(actions[a], d, discrete) for a, d in zip(agents, action_dims)]
        expected_obs, new_actions = relabel.apply(landmark_order, agent_order, [torch.as_tensor(obs[a]) for a in agents],
                                                  columns)
        for a, expected in zip(agents, expected_obs):
            np.testing.assert_array_equal(twin_obs[a], expected.numpy(), err_msg=a)
        twin_after = twin.step({a: (t.argmax(1).numpy() if discrete else t.numpy()) for a, t in zip(agents, new_actions)})
        expected_next, _ = relabel.apply(landmark_order, agent_order,
                                         [torch.as_tensor(after.observations[a]) for a in agents], columns)
        old_rewards = np.stack([after.rewards[a] for a in agents], axis=1)
        for i, (a, expected) in enumerate(zip(agents, expected_next)):
            np.testing.assert_allclose(twin_after.observations[a], expected.numpy(), atol=1e-6, err_msg=a)
            np.testing.assert_allclose(twin_after.rewards[a], old_rewards[np.arange(NUM_ENVS), agent_order[:, i]],
                                       atol=1e-6)


def test_augment_relabels_with_every_pair_of_orders_and_turns_the_plane_after():
    n, samples = 3, 2000
    obs = [torch.randn(samples, 18) for _ in range(n)]
    actions = [torch.nn.functional.one_hot(torch.randint(0, 5, (samples,)), 5).float() for _ in range(n)]
    relabel = relabellings("simple_spread_v3", {}, [18] * 3)
    joint = torch.cat(sum(relabel.augment(obs, actions, torch.Generator().manual_seed(0)), []), dim=1)
    candidates = [torch.cat(sum(relabel.apply(landmarks.expand(samples, n), agents.expand(samples, n), obs, actions),
                                []), dim=1) for landmarks, agents in all_orders(relabel)]
    matches = torch.stack([(joint == candidate).all(dim=1) for candidate in candidates])  # [36, samples]
    assert len(candidates) == 36 and (matches.sum(dim=0) == 1).all()
    assert set(matches.float().argmax(dim=0).tolist()) == set(range(36))
    group = world_symmetries("simple_spread_v3", {}, [18] * 3, [5] * 3, relabel_entities=True)
    generator = torch.Generator().manual_seed(1)
    augmented = torch.cat(sum(group.augment(obs, actions, generator), []), dim=1)
    generator.manual_seed(1)  # the same draws, made by hand: relabel first, then turn
    by_hand = torch.cat(sum(group.plane.augment(*relabel.augment(obs, actions, generator), generator), []), dim=1)
    assert torch.equal(augmented, by_hand)
    assert world_symmetries("simple_spread_v3", {}, [18] * 3, [5] * 3, relabel_entities=False).relabellings is None


def test_relabellings_are_refused_where_agents_or_landmarks_are_not_interchangeable():
    with pytest.raises(ValueError, match="not simple_tag_v3"):
        relabellings("simple_tag_v3", {}, [16] * 4)
    with pytest.raises(ValueError, match="num_agent_neighbors"):
        relabellings("simple_spread_v3", {"num_agent_neighbors": 1}, [14] * 3)
    with pytest.raises(ValueError, match=r"\[18, 18\]"):
        relabellings("simple_spread_v3", {}, [18, 18])
