"""The learner evaluates agents whose networks share a shape as one stacked network (networks.AgentStacks). These
tests hold it to per-agent reference code, the learner as it was before the stacks: the same updates to float
tolerance, the same per-agent clipping, and checkpoints of the per-agent optimizers still resuming."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maddpg_gail.buffer import Batch
from maddpg_gail.maddpg import MADDPG, make_actors, stacked_optimizer_state
from maddpg_gail.networks import ActionSpec, AgentStacks, Critic, StackedMLP, mlp, shape_groups

# (observation dims, action dims): three agents of one shape (spread), two of one and one of another (the
# groups are not contiguous), and every agent its own shape (speaker-listener)
ENVS = {"one group": ([18, 18, 18], [5, 5, 5]), "mixed": ([8, 10, 8], [5, 5, 5]), "all alone": ([3, 11], [3, 5])}


class Reference:
    """MADDPG's update written agent by agent, as the learner was before its stacks: every network a module of its
    own, one Adam of all of a role's parameters, `clip_grad_norm_` per network, Polyak averaging per tensor."""

    def __init__(self, learner: MADDPG, config, obs_dims: list[int]):
        self.config, self.centralized = config, learner.centralized
        dims = [c.net[0].in_features for c in learner.critics]
        self.actors = make_actors(config, obs_dims, learner.action_specs)
        self.target_actors = make_actors(config, obs_dims, learner.action_specs)
        self.critics = nn.ModuleList(Critic(d, tuple(config.hidden_sizes)) for d in dims)
        self.target_critics = nn.ModuleList(Critic(d, tuple(config.hidden_sizes)) for d in dims)
        for mine, theirs in ((self.actors, learner.actors), (self.critics, learner.critics),
                             (self.target_actors, learner.target_actors), (self.target_critics, learner.target_critics)):
            mine.load_state_dict(theirs.state_dict())  # values copied: these modules share no memory with the learner
        self.actor_optimizer = torch.optim.Adam(self.actors.parameters(), lr=config.actor_lr, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=config.critic_lr, fused=True)

    def critic_input(self, i, obs, actions):
        return torch.cat([*obs, *actions] if self.centralized else [obs[i], actions[i]], dim=-1)

    def update(self, batch: Batch) -> None:
        cfg, n = self.config, len(self.actors)
        with torch.no_grad():
            next_actions = [actor.greedy(o) for actor, o in zip(self.target_actors, batch.next_obs)]
            targets = [batch.rewards[:, i] + batch.discount * (1 - batch.terminated)
                       * self.target_critics[i](self.critic_input(i, batch.next_obs, next_actions)) for i in range(n)]
        loss = sum(F.mse_loss(self.critics[i](self.critic_input(i, batch.obs, batch.actions)), targets[i])
                   for i in range(n))
        self.critic_optimizer.zero_grad()
        loss.backward()
        for critic in self.critics:
            nn.utils.clip_grad_norm_(critic.parameters(), cfg.grad_clip)
        self.critic_optimizer.step()
        self.polyak(self.target_critics, self.critics)
        loss = 0
        for i, actor in enumerate(self.actors):
            action, raw = actor.differentiable(batch.obs[i])
            actions = list(batch.actions)
            actions[i] = action
            q = self.critics[i](self.critic_input(i, batch.obs, actions))
            loss = loss - q.mean() + cfg.logits_regularization * raw.pow(2).mean()
        self.actor_optimizer.zero_grad()
        loss.backward(inputs=list(self.actors.parameters()))
        for actor in self.actors:
            nn.utils.clip_grad_norm_(actor.parameters(), cfg.grad_clip)
        self.actor_optimizer.step()
        self.polyak(self.target_actors, self.actors)

    @torch.no_grad()
    def polyak(self, targets: nn.Module, sources: nn.Module) -> None:
        for target, source in zip(targets.parameters(), sources.parameters()):
            target.mul_(1 - self.config.tau).add_(self.config.tau * source)


def make_batch(obs_dims, specs, size=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    actions = [F.one_hot(torch.randint(s.dim, (size,), generator=generator), s.dim).float() if s.discrete
               else torch.rand(size, s.dim, generator=generator) for s in specs]
    return Batch(obs=[torch.randn(size, d, generator=generator) for d in obs_dims], actions=actions,
                 rewards=torch.randn(size, len(obs_dims), generator=generator),
                 next_obs=[torch.randn(size, d, generator=generator) for d in obs_dims],
                 terminated=(torch.rand(size, generator=generator) < 0.2).float(),
                 discount=torch.full((size,), 0.95 ** 3))


def assert_same_networks(learner: MADDPG, reference: Reference, atol: float = 1e-5) -> None:
    for role in ("actors", "critics", "target_actors", "target_critics"):
        mine, theirs = getattr(learner, role).state_dict(), getattr(reference, role).state_dict()
        assert mine.keys() == theirs.keys()
        for name in mine:
            torch.testing.assert_close(mine[name], theirs[name], atol=atol, rtol=1e-4, msg=f"{role}.{name}")


def learner_and_reference(tiny_config, env, critic, continuous, **overrides):
    obs_dims, action_dims = ENVS[env]
    # float32: the reference's own precision (mixed precision has a test of its own)
    config = dataclasses.replace(tiny_config, critic=critic, grad_clip=0.5, precision="float32", **overrides)
    specs = [ActionSpec(discrete=not continuous, dim=d) for d in action_dims]
    torch.manual_seed(0)
    learner = MADDPG(obs_dims, specs, config, torch.device("cpu"))
    return learner, Reference(learner, config, obs_dims), obs_dims, specs


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("critic", ["centralized", "independent"])
@pytest.mark.parametrize("continuous", [False, True])
def test_stacked_updates_are_the_per_agent_updates(tiny_config, env, critic, continuous):
    learner, reference, obs_dims, specs = learner_and_reference(tiny_config, env, critic, continuous)
    for step in range(3):  # Adam's moments, the clipping and the targets all in play from the second on
        batch = make_batch(obs_dims, specs, seed=step)
        torch.manual_seed(100 + step)  # the same Gumbel noise: both sample agent by agent in agent order
        learner.update(batch)
        torch.manual_seed(100 + step)
        reference.update(batch)
    assert_same_networks(learner, reference)
    # and not trivially: the networks moved
    start = MADDPG(obs_dims, specs, learner.config, torch.device("cpu"))
    assert not torch.allclose(start.actors[0].net[0].weight, learner.actors[0].net[0].weight)


def test_stacked_updates_through_the_actors_features_are_the_per_agent_updates(tiny_config):
    """The actors' feature module (the spread agent-landmark distances) applied once to each group's stacked
    observations gives what each actor computes from its own."""
    learner, reference, obs_dims, specs = learner_and_reference(tiny_config, "one group", "centralized", False,
                                                                actor_inputs="distances")
    assert learner.actors[0].net[0].in_features == 18 + 9
    for step in range(3):
        batch = make_batch(obs_dims, specs, seed=step)
        torch.manual_seed(100 + step)
        learner.update(batch)
        torch.manual_seed(100 + step)
        reference.update(batch)
    assert_same_networks(learner, reference)


def test_stacking_off_gives_the_same_updates(tiny_config):
    learners = []
    for stack in (True, False):
        torch.manual_seed(0)
        config = dataclasses.replace(tiny_config, stack_agents=stack, precision="float32")
        learners.append(MADDPG([18, 18, 18], [ActionSpec(True, 5)] * 3, config, torch.device("cpu")))
        assert len(learners[-1].actor_stacks.stacks) == (1 if stack else 3)
    for step in range(3):
        batch = make_batch([18, 18, 18], [ActionSpec(True, 5)] * 3, seed=step)
        for learner in learners:
            torch.manual_seed(step)
            learner.update(batch)
    for role in ("actors", "critics", "target_actors", "target_critics"):
        for a, b in zip(getattr(learners[0], role).parameters(), getattr(learners[1], role).parameters()):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_clipping_stays_per_agent(tiny_config):
    """One agent's huge gradient must not shrink the others': each agent's norm is clipped alone."""
    learner, reference, obs_dims, specs = learner_and_reference(tiny_config, "one group", "centralized", False)
    batch = make_batch(obs_dims, specs)
    batch = batch._replace(rewards=batch.rewards * torch.tensor([1e4, 1.0, 1.0]))  # agent 0's critic: a huge loss
    torch.manual_seed(1)
    stats = learner.update(batch)
    torch.manual_seed(1)
    reference.update(batch)
    assert stats["critic_grad_norm"][0] > 100 * stats["critic_grad_norm"][1:].max()
    assert_same_networks(learner, reference)


def test_old_checkpoints_optimizers_resume_in_the_stacks(tiny_config):
    """A learner state saved before the stacks (every agent's parameters one by one in the optimizers) loads, and
    the next update is the one the per-agent learner would have made."""
    learner, reference, obs_dims, specs = learner_and_reference(tiny_config, "mixed", "centralized", False)
    for step in range(2):
        torch.manual_seed(step)
        reference.update(make_batch(obs_dims, specs, seed=step))
    legacy = {"actors": reference.actors.state_dict(), "critics": reference.critics.state_dict(),
              "target_actors": reference.target_actors.state_dict(),
              "target_critics": reference.target_critics.state_dict(),
              "actor_optimizer": reference.actor_optimizer.state_dict(),
              "critic_optimizer": reference.critic_optimizer.state_dict()}
    assert len(legacy["actor_optimizer"]["param_groups"][0]["params"]) == 18  # 3 agents x 3 layers x (W, b)
    learner.load_state_dict(legacy)
    batch = make_batch(obs_dims, specs, seed=5)
    torch.manual_seed(5)
    learner.update(batch)
    torch.manual_seed(5)
    reference.update(batch)
    assert_same_networks(learner, reference)
    # a stacked state loads as it is
    again = MADDPG(obs_dims, specs, learner.config, torch.device("cpu"))
    again.load_state_dict(learner.state_dict())
    for a, b in zip(again.actor_optimizer.state.values(), learner.actor_optimizer.state.values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"])


def test_optimizer_states_of_other_networks_are_refused(tiny_config):
    learner = MADDPG([18, 18, 18], [ActionSpec(True, 5)] * 3, tiny_config, torch.device("cpu"))
    foreign = torch.optim.Adam(nn.Linear(3, 2).parameters()).state_dict()
    with pytest.raises(ValueError, match="fits neither"):
        stacked_optimizer_state(foreign, learner.actors, learner.actor_stacks.sources())


def test_a_stack_shares_its_members_memory():
    torch.manual_seed(0)
    nets = [mlp(4, (8,), 2) for _ in range(3)]
    x = [torch.randn(5, 4) for _ in range(3)]
    expected = [net(xi) for net, xi in zip(nets, x)]
    stack = StackedMLP(nets)
    torch.testing.assert_close(stack(torch.stack(x)), torch.stack(expected))
    with torch.no_grad():  # an in-place step of the stack is a step of every member module
        stack.parameters()[0].add_(1.0)
    assert torch.equal(nets[1][0].weight, stack.parameters()[0][1])
    nets[2].load_state_dict(mlp(4, (8,), 2).state_dict())  # and loading a member writes into the stack
    assert torch.equal(stack.parameters()[2][2], nets[2][2].weight)
    # one input shared by every member: no copy, the same outputs as each member's own
    shared = AgentStacks(nets, [[0, 1, 2]])([x[0]] * 3)
    for net, out in zip(nets, shared):
        torch.testing.assert_close(out, net(x[0]))


def test_agents_are_grouped_by_shape_in_first_appearance_order():
    assert shape_groups([(18, 5), (18, 5), (18, 5)]) == [[0, 1, 2]]
    assert shape_groups([8, 10, 8, 10, 3]) == [[0, 2], [1, 3], [4]]
    assert shape_groups([8, 8], stack=False) == [[0], [1]]
