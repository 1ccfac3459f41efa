import dataclasses

import pytest
import torch

from envs import make_parallel_env
from maddpg_gail.buffer import Batch
from maddpg_gail.maddpg import MADDPG, td_target
from maddpg_gail.networks import ActionSpec


def learner_for(scenario: str, config, critic: str) -> MADDPG:
    env = make_parallel_env(scenario, {})
    agents = env.possible_agents
    obs_dims = [env.observation_space(a).shape[0] for a in agents]
    specs = [ActionSpec.from_space(env.action_space(a)) for a in agents]
    return MADDPG(obs_dims, specs, dataclasses.replace(config, critic=critic), torch.device("cpu"))


def random_batch(learner: MADDPG, size: int = 7) -> Batch:
    obs = [torch.randn(size, a[0].in_features) for a in (actor.net for actor in learner.actors)]
    actions = [torch.rand(size, spec.dim) for spec in learner.action_specs]
    next_obs = [torch.randn_like(o) for o in obs]
    return Batch(obs, actions, torch.randn(size, learner.n_agents), next_obs, torch.zeros(size), torch.full((size,), 0.95))


@pytest.mark.parametrize(
    "scenario, obs_dims, action_dims",
    [
        ("simple_tag_v3", [16, 16, 16, 14], [5, 5, 5, 5]),
        ("simple_speaker_listener_v4", [3, 11], [3, 5]),
    ],
)
def test_critic_input_sizes_on_heterogeneous_scenarios(tiny_config, scenario, obs_dims, action_dims):
    centralized = learner_for(scenario, tiny_config, "centralized")
    joint = sum(obs_dims) + sum(action_dims)
    assert [c.net[0].in_features for c in centralized.critics] == [joint] * len(obs_dims)
    assert [a.net[0].in_features for a in centralized.actors] == obs_dims
    assert [a.net[-1].out_features for a in centralized.actors] == action_dims
    independent = learner_for(scenario, tiny_config, "independent")
    assert [c.net[0].in_features for c in independent.critics] == [o + a for o, a in zip(obs_dims, action_dims)]
    batch = random_batch(centralized)
    for learner in (centralized, independent):
        stats = learner.update(batch)  # runs end to end with these shapes
        assert stats["q"].shape == (len(obs_dims),)


def test_td_target_uses_every_agents_target_actor(tiny_config):
    learner = learner_for("simple_speaker_listener_v4", tiny_config, "centralized")
    batch = random_batch(learner, size=64)
    before = learner.td_targets(batch)
    with torch.no_grad():  # change only agent 1's target actor: agent 0's target must move too
        for p in learner.target_actors[1].parameters():
            p.add_(torch.randn_like(p))
    after = learner.td_targets(batch)
    assert not torch.equal(before[0], after[0])
    assert not torch.equal(before[1], after[1])


def test_independent_td_target_uses_only_its_own_target_actor(tiny_config):
    learner = learner_for("simple_speaker_listener_v4", tiny_config, "independent")
    batch = random_batch(learner, size=64)
    before = learner.td_targets(batch)
    with torch.no_grad():
        for p in learner.target_actors[1].parameters():
            p.add_(torch.randn_like(p))
    after = learner.td_targets(batch)
    assert torch.equal(before[0], after[0])
    assert not torch.equal(before[1], after[1])


def test_td_target_bootstraps_unless_terminated():
    rewards, next_q = torch.tensor([1.0, 1.0]), torch.tensor([10.0, 10.0])
    target = td_target(rewards, torch.tensor([0.0, 1.0]), next_q, discount=0.9)
    assert target.tolist() == [10.0, 1.0]
    n_step = td_target(rewards, torch.tensor([0.0, 0.0]), next_q, discount=torch.tensor([0.5, 0.25]))
    assert n_step.tolist() == [6.0, 3.5]


def test_updates_change_actors_critics_and_targets(tiny_config):
    learner = learner_for("simple_spread_v3", tiny_config, "centralized")
    snapshot = {name: [p.clone() for p in m.parameters()] for name, m in
                [("actors", learner.actors), ("critics", learner.critics),
                 ("target_actors", learner.target_actors), ("target_critics", learner.target_critics)]}
    learner.update(random_batch(learner, size=32))
    for name, old in snapshot.items():
        new = list(getattr(learner, name).parameters())
        assert any(not torch.equal(a, b) for a, b in zip(old, new)), f"{name} did not change"
