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


def test_a_critic_only_update_leaves_the_actors_and_their_targets_alone(tiny_config):
    learner = learner_for("simple_spread_v3", tiny_config, "centralized")
    actors = [p.clone() for p in [*learner.actors.parameters(), *learner.target_actors.parameters()]]
    critics = [p.clone() for p in [*learner.critics.parameters(), *learner.target_critics.parameters()]]
    stats = learner.update(random_batch(learner, size=32), update_actors=False)
    assert all(torch.equal(a, b) for a, b in zip(actors, [*learner.actors.parameters(),
                                                          *learner.target_actors.parameters()]))
    assert all(not torch.equal(a, b) for a, b in zip(critics, [*learner.critics.parameters(),
                                                               *learner.target_critics.parameters()]))
    assert "actor_loss" not in stats and stats["critic_loss"].shape == (3,)


@pytest.mark.parametrize("continuous", [False, True])
def test_a_behaviour_cloning_term_pulls_the_actors_to_the_expert_actions(tiny_config, continuous):
    # the expert batch comes in by hand; the Config only needs to name a dataset for bc_weight > 0
    config = dataclasses.replace(tiny_config, bc_weight=100.0, actor_lr=1e-2, demos="demos.npz")
    obs_dims, action_dims = (3, 11), (3, 5)  # simple_speaker_listener_v4's
    specs = [ActionSpec(discrete=not continuous, dim=d) for d in action_dims]
    learner = MADDPG(list(obs_dims), specs, config, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    expert_obs = [torch.randn(64, d, generator=generator) for d in obs_dims]
    # the expert's action is a function of the observation, as a policy's is
    if continuous:
        expert_actions = [torch.sigmoid(2 * obs[:, :dim]) for obs, dim in zip(expert_obs, action_dims)]
    else:
        expert_actions = [torch.eye(dim)[obs[:, :dim].argmax(-1)] for obs, dim in zip(expert_obs, action_dims)]
    first = learner.update(random_batch(learner, size=32), (expert_obs, expert_actions))["bc_loss"]
    for _ in range(300):
        last = learner.update(random_batch(learner, size=32), (expert_obs, expert_actions))["bc_loss"]
    assert first.shape == (2,) and (last < 0.2 * first).all(), (first, last)
    with torch.no_grad():
        actions = [actor.greedy(o) for actor, o in zip(learner.actors, expert_obs)]
    for taken, target in zip(actions, expert_actions):
        if continuous:
            assert (taken - target).abs().mean() < 0.1
        else:
            assert (taken.argmax(-1) == target.argmax(-1)).float().mean() > 0.9


def test_the_cloning_term_is_weighted_by_bc_weight(tiny_config):
    """Two learners from one seed: the gradient of the cloning term alone scales with bc_weight."""
    def actor_gradients(bc_weight: float) -> list[torch.Tensor]:
        torch.manual_seed(0)
        config = dataclasses.replace(tiny_config, bc_weight=bc_weight, logits_regularization=0.0, grad_clip=1e9,
                                     demos="demos.npz")
        learner = learner_for("simple_spread_v3", config, "centralized")
        for group in learner.critic_optimizer.param_groups:  # a Config's critic_lr is > 0; these critics stay put
            group["lr"] = 0.0
        for critic in learner.critics:  # critics that ignore actions (and stay so, lr 0): no policy gradient
            critic.net[0].weight.data[:, -15:] = 0.0
        torch.manual_seed(1)
        batch = random_batch(learner, size=16)
        expert = ([torch.randn(16, 18) for _ in range(3)], [torch.eye(5)[torch.arange(16) % 5] for _ in range(3)])
        learner.actor_optimizer.step = lambda: None  # keep the weights, read the gradients
        learner.update(batch, expert)
        return [p.grad.clone() for p in learner.actors.parameters()]

    for one, three in zip(actor_gradients(1.0), actor_gradients(3.0)):
        assert torch.allclose(three, 3 * one, atol=1e-6)
