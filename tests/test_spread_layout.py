"""envs/spread.py: where simple_spread_v3's observations keep what, and the distances read from them."""

import numpy as np
import pytest
import torch

from envs import make_parallel_env
from envs.spread import AgentLandmarkAssignment, AgentLandmarkDistances, SpreadLayout, spread_layout
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


@pytest.mark.parametrize("features", [AgentLandmarkDistances, AgentLandmarkAssignment])
def test_actor_features_stay_float32_under_mixed_precision(features):
    """The actors' distance inputs are one matrix product; under bfloat16 autocast (the updates') it must not run in
    bfloat16, whose 8-bit mantissa would blur distances near 1 by 0.004 (and flip close assignments)."""
    features = features(SpreadLayout(3))
    obs = torch.randn(2, 64, 18)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = features(obs)
    assert mixed.dtype == torch.float32 and mixed.shape == (2, 64, 18 + features.extra_dims)
    torch.testing.assert_close(mixed, features(obs), rtol=0, atol=0)
    torch.testing.assert_close(mixed[..., 18:27], SpreadLayout(3).distances(obs))


def spread_observation(me, others, landmarks):
    """Agent `me`'s observation [18] of a 3-agent world at rest, from positions."""
    me, others, landmarks = np.array(me), np.array(others), np.array(landmarks)
    return torch.as_tensor(np.concatenate([[0.0, 0.0], me, (landmarks - me).ravel(), (others - me).ravel(),
                                           np.zeros(4)]), dtype=torch.float32)


def test_the_assignment_is_the_least_total_distance_not_the_nearest_landmark():
    # Landmark 0 is the observer's nearest (0.4 away), but the agent at (0.5, 0) is nearer to it still: sharing out
    # by least total distance sends the observer to landmark 1 (1.0 + 0.1 + 0.1 = 1.2, against 0.4 + 1.5 + 0.1).
    obs = spread_observation([0, 0], [[0.5, 0], [10, 0]], [[0.4, 0], [-1, 0], [10, 0.1]])
    out = AgentLandmarkAssignment(SpreadLayout(3))(obs[None])[0]
    torch.testing.assert_close(out[:18], obs)
    torch.testing.assert_close(out[27:29], torch.tensor([-1.0, 0.0]))  # landmark 1's offset
    torch.testing.assert_close(out[29:], torch.tensor([0.0, 1.0, 0.0]))
    # the agent at (0.5, 0) works out the same sharing from its own observation: landmark 0
    theirs = spread_observation([0.5, 0], [[0, 0], [10, 0]], [[0.4, 0], [-1, 0], [10, 0.1]])
    torch.testing.assert_close(AgentLandmarkAssignment(SpreadLayout(3))(theirs[None])[0, 29:],
                               torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("n", [3, 4])
def test_every_agent_of_a_world_works_out_the_same_sharing(n):
    """Each agent from its own observation: together, every landmark taken once, in many random worlds."""
    env = make_parallel_env("simple_spread_v3", {"N": n, "max_cycles": 25})
    features = AgentLandmarkAssignment(spread_layout("simple_spread_v3", {"N": n}, [6 * n] * n, "test"))
    for seed in range(50):
        observations, _ = env.reset(seed=seed)
        taken = [int(features(torch.as_tensor(observations[a])[None])[0, -n:].argmax()) for a in env.agents]
        assert sorted(taken) == list(range(n)), (seed, taken)


def test_the_assignment_is_refused_beyond_five_agents():
    assert AgentLandmarkAssignment.defined_for(SpreadLayout(5))
    with pytest.raises(ValueError, match="assignment: defined for up to 5 agents, not 6"):
        AgentLandmarkAssignment(SpreadLayout(6))


@pytest.mark.parametrize("features", [AgentLandmarkDistances, AgentLandmarkAssignment])
@pytest.mark.parametrize("n", [3, 4])
def test_actor_features_of_a_row_are_the_same_in_any_batch(features, n):
    """Greedy evaluation computes the features per batch and the network per row (`Policy.act_batch`): a row's
    features must not depend, to the bit, on the batch it comes in. Half the worlds are mirrored about the y axis,
    agents and landmarks alike, so that pairings tie in exact arithmetic and a rounding that depends on the order
    of a sum would break the tie differently in different batches."""
    features = features(SpreadLayout(n))
    generator = torch.Generator().manual_seed(0)
    positions = torch.rand(300, 2 * n, 2, generator=generator) * 4 - 2  # n agents, then n landmarks
    mirrored = positions.clone()
    mirrored[:, 1::2] = positions[:, 0::2] * torch.tensor([-1.0, 1.0])  # each odd entity mirrors the even one before
    rows = []
    for world in torch.cat([positions, mirrored]):
        agents, landmarks = world[:n], world[n:]
        rows.append(torch.cat([torch.zeros(2), agents[0], (landmarks - agents[0]).flatten(),
                               (agents[1:] - agents[0]).flatten(), torch.zeros(2 * (n - 1))]))
    obs = torch.stack(rows)
    batched = features(obs)
    alone = torch.cat([features(row) for row in obs.split(1)])
    assert torch.equal(batched, alone)
    assert torch.equal(features(obs.view(4, -1, 6 * n)).view(len(obs), -1), batched)  # the learner's [G, B, in]
