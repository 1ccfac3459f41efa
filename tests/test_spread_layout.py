"""envs/spread.py: where simple_spread_v3's observations keep what, and the distances read from them."""

import numpy as np
import pytest
import torch

from envs import make_parallel_env
from envs.spread import SpreadLayout, spread_layout
from envs.features import relabellings, world_symmetries


@pytest.mark.parametrize("n", [3, 4])
def test_offsets_and_distances_are_those_of_the_world(n):
    env = make_parallel_env("simple_spread_v3", {"N": n, "max_cycles": 25})
    observations, _ = env.reset(seed=0)
    for _ in range(3):  # agents under way
        observations, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
    world = env.unwrapped.world
    agent_pos = np.array([agent.state.p_pos for agent in world.agents])
    landmark_pos = np.array([landmark.state.p_pos for landmark in world.landmarks])
    layout = spread_layout("simple_spread_v3", {"N": n}, [len(observations[a]) for a in env.agents], "test")
    for i, agent in enumerate(env.agents):
        obs = observations[agent][None]
        order = [i] + [j for j in range(n) if j != i]  # the observer first, then the others in index order
        np.testing.assert_allclose(layout.landmark_offsets(obs)[0], landmark_pos - agent_pos[i], atol=1e-6)
        np.testing.assert_allclose(layout.other_offsets(obs)[0], agent_pos[order[1:]] - agent_pos[i], atol=1e-6)
        expected = np.linalg.norm(landmark_pos[None] - agent_pos[order][:, None], axis=-1).reshape(-1)
        np.testing.assert_allclose(layout.distances(torch.as_tensor(obs))[0].numpy(), expected, atol=1e-5)


def test_distances_stay_under_turns_of_the_plane_and_move_with_relabellings():
    n, samples = 3, 500
    obs = [torch.randn(samples, 18) for _ in range(n)]
    actions = [torch.nn.functional.one_hot(torch.randint(0, 5, (samples,)), 5).float() for _ in range(n)]
    layout = SpreadLayout(n)
    plane = world_symmetries("simple_spread_v3", {}, [18] * 3, [5] * 3, relabel_entities=False).plane
    turned, _ = plane.augment(obs, actions, torch.Generator().manual_seed(0))
    for before, after in zip(obs, turned):
        assert not torch.allclose(before, after)
        torch.testing.assert_close(layout.distances(after), layout.distances(before))
    landmark_order, agent_order = torch.rand(2, samples, n, generator=torch.Generator().manual_seed(1)).argsort(dim=2)
    relabelled, _ = relabellings("simple_spread_v3", {}, [18] * 3).apply(landmark_order, agent_order, obs, actions)
    rows = torch.arange(samples)[:, None]
    # the new agent i is the old agent_order[i], the new landmark k the old landmark_order[k]
    for i, new in enumerate(relabelled):
        old = torch.stack([layout.distances(o) for o in obs], dim=1)[torch.arange(samples), agent_order[:, i]]
        old, new = old.reshape(samples, n, n), layout.distances(new).reshape(samples, n, n)
        torch.testing.assert_close(new[:, 0], old[:, 0][rows, landmark_order])  # its own distances
        torch.testing.assert_close(new.flatten(1).sort(dim=1).values, old.flatten(1).sort(dim=1).values)


def test_a_layout_is_refused_where_observations_do_not_have_it():
    with pytest.raises(ValueError, match="^distances: defined for simple_spread_v3, not simple_tag_v3$"):
        spread_layout("simple_tag_v3", {}, [16] * 4, "distances")
    with pytest.raises(ValueError, match="^distances: .*num_landmark_neighbors"):
        spread_layout("simple_spread_v3", {"num_landmark_neighbors": 1}, [14] * 3, "distances")
    with pytest.raises(ValueError, match=r"\[18, 18\]"):
        spread_layout("simple_spread_v3", {}, [18, 18], "distances")
    assert spread_layout("simple_spread_v3", {"N": 4}, [24] * 4, "distances") == SpreadLayout(4)


def test_distance_features_stay_float32_under_mixed_precision():
    """The actors' distance inputs are one matrix product; under bfloat16 autocast (the updates') it must not run in
    bfloat16, whose 8-bit mantissa would blur distances near 1 by 0.004."""
    from envs.spread import AgentLandmarkDistances

    features = AgentLandmarkDistances(SpreadLayout(3))
    obs = torch.randn(2, 64, 18)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = features(obs)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, features(obs), rtol=0, atol=0)
    torch.testing.assert_close(mixed[..., 18:], SpreadLayout(3).distances(obs))
