import dataclasses
import io
import math

import pytest
import torch
from torch import nn

from envs import make_parallel_env
from maddpg_gail.buffer import Batch
from maddpg_gail.imitation import CloningTerm
from maddpg_gail.maddpg import MADDPG, actor_loss, td_target
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
        with torch.no_grad():  # what the update must report: each critic's own Q and loss, before its step
            q = [critic(learner.critic_input(i, batch.obs, batch.actions)) for i, critic in enumerate(learner.critics)]
            losses = [(q_i - y).pow(2).mean() for q_i, y in zip(q, learner.td_targets(batch))]
        stats = learner.update(batch)
        torch.testing.assert_close(stats["q"], torch.stack([q_i.mean() for q_i in q]))
        torch.testing.assert_close(stats["critic_loss"], torch.stack(losses))
        assert stats["actor_loss"].shape == (len(obs_dims),) and stats["actor_loss"].isfinite().all()


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
    cloning = CloningTerm(expert_obs, expert_actions, config.bc_weight)
    first = learner.update(random_batch(learner, size=32), extra_actor_loss=cloning)["bc_loss"]
    for _ in range(300):
        last = learner.update(random_batch(learner, size=32), extra_actor_loss=cloning)["bc_loss"]
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
        learner.update(batch, extra_actor_loss=CloningTerm(*expert, config.bc_weight))
        return [p.grad.clone() for p in learner.actor_stacks.parameters()]

    for one, three in zip(actor_gradients(1.0), actor_gradients(3.0)):
        assert torch.allclose(three, 3 * one, atol=1e-6)


def test_the_cloning_term_adds_the_gradient_of_each_actor_s_cloning_loss_at_the_expert_observations(tiny_config):
    """The learner evaluates the actors at the batch's and the term's observations in one pass: the actors'
    gradients are the policy gradient's (an update without the term) plus bc_weight times the gradient of the
    cloning losses, each actor called alone on its expert observations."""
    from maddpg_gail.bc import bc_loss

    config = dataclasses.replace(tiny_config, bc_weight=2.0, grad_clip=1e9, demos="demos.npz",
                                 actor_inputs="distances")
    torch.manual_seed(0)
    learner = learner_for("simple_spread_v3", config, "centralized")
    for group in learner.critic_optimizer.param_groups:  # the critics stay put: both updates see the same Q
        group["lr"] = 0.0
    learner.actor_optimizer.step = lambda: None  # keep the weights, read the gradients
    generator = torch.Generator().manual_seed(1)
    expert = ([torch.randn(9, 18, generator=generator) for _ in range(3)],
              [torch.eye(5)[torch.randint(0, 5, (9,), generator=generator)] for _ in range(3)])
    batch = random_batch(learner, size=16)  # its observations the width of the actors' inputs: the env's instead
    batch = batch._replace(obs=[torch.randn(16, 18, generator=generator) for _ in range(3)],
                           next_obs=[torch.randn(16, 18, generator=generator) for _ in range(3)])

    def actor_grads(extra) -> list[torch.Tensor]:
        torch.manual_seed(2)  # the same Gumbel noise in the policy gradient
        learner.update(batch, extra_actor_loss=extra)
        return [p.grad.clone() for p in learner.actor_stacks.parameters()]

    policy_gradient = actor_grads(None)
    with_term = actor_grads(CloningTerm(*expert, config.bc_weight))
    leaves = learner.actor_stacks.parameters()
    for leaf in leaves:
        leaf.grad = None
    loss = sum(bc_loss(actor, actor(o), a) for actor, o, a in zip(learner.actors, *expert))
    cloning = torch.autograd.grad(loss, [p for actor in learner.actors for p in actor.net.parameters()])
    # the actors' own parameters are rows of the stacked leaves: stack their gradients likewise
    per_layer = len(leaves)
    stacked_cloning = [torch.stack(cloning[k::per_layer]) for k in range(per_layer)]
    for total, pg, bc in zip(with_term, policy_gradient, stacked_cloning):
        torch.testing.assert_close(total, pg + config.bc_weight * bc, atol=1e-6, rtol=1e-5)


def set_linear_critic(critic: nn.Module, action_slot: slice, slope: torch.Tensor) -> None:
    """Makes an MLP critic (two hidden ReLU layers) Q = slope . a_i of agent i's action, read from its slot in the
    critic's input: one unit carries it, kept in ReLU's linear part by an offset that the last bias takes away."""
    with torch.no_grad():
        for layer in (critic.net[0], critic.net[2], critic.net[4]):
            layer.weight.zero_()
            layer.bias.zero_()
        critic.net[0].weight[0, action_slot] = slope
        critic.net[0].bias[0] = 10.0
        critic.net[2].weight[0, 0] = 1.0
        critic.net[4].weight[0, 0] = 1.0
        critic.net[4].bias[0] = -10.0


@pytest.mark.parametrize("discrete", [False, True])
def test_one_actor_step_moves_every_action_toward_the_maximum_of_its_critic(tiny_config, discrete):
    torch.manual_seed(0)
    config = dataclasses.replace(tiny_config, critic="centralized", actor_lr=1e-2, logits_regularization=0.0)
    obs_dims, action_dims = [3, 4], [2, 3]
    learner = MADDPG(obs_dims, [ActionSpec(discrete, d) for d in action_dims], config, torch.device("cpu"))
    for group in learner.critic_optimizer.param_groups:  # a Config's critic_lr is > 0; these critics stay put
        group["lr"] = 0.0
    # Q_i = slope . a_i: its maximum is the last choice (discrete) or the box's corner (1, ..., 1)
    slopes = [torch.eye(d)[-1] if discrete else torch.ones(d) for d in action_dims]
    best = [torch.eye(d)[-1] if discrete else torch.ones(d) for d in action_dims]
    slots = [slice(sum(obs_dims) + sum(action_dims[:i]), sum(obs_dims) + sum(action_dims[: i + 1])) for i in range(2)]
    for critics in (learner.critics, learner.target_critics):
        for critic, slot, slope in zip(critics, slots, slopes):
            set_linear_critic(critic, slot, slope)
    batch = random_batch(learner, size=256)
    q = torch.stack([c(learner.critic_input(0, batch.obs, batch.actions)) for c in learner.critics])
    torch.testing.assert_close(q, torch.stack([(a * s).sum(-1) for a, s in zip(batch.actions, slopes)]))

    def distances() -> list[float]:
        """How far each actor's action is from the best one: squared distance, or 1 - P(best choice)."""
        with torch.no_grad():
            if discrete:
                return [1 - actor(o).softmax(-1)[:, -1].mean().item() for actor, o in zip(learner.actors, batch.obs)]
            return [(actor.greedy(o) - b).pow(2).sum(-1).mean().item()
                    for actor, o, b in zip(learner.actors, batch.obs, best)]

    before = distances()
    learner.update(batch)
    after = distances()
    for i in range(2):
        assert after[i] < 0.98 * before[i], (before, after)


def test_td_targets_by_hand_bootstrap_the_target_critic_at_next_obs_but_not_at_a_terminal_state(tiny_config):
    """Linear networks with chosen weights: r + discount * (1 - terminated) * Q'_i(o'_0, o'_1, a'_0, a'_1),
    with a'_j = sigmoid(w_j o'_j + b_j) from the target actors, whose weights differ from the online ones."""
    config = dataclasses.replace(tiny_config, critic="centralized")
    config.hidden_sizes = ()  # linear networks: no flag or file makes them, but the learner builds them as well
    learner = MADDPG([1, 1], [ActionSpec(False, 1), ActionSpec(False, 1)], config, torch.device("cpu"))
    actor_weights = [(2.0, 0.0), (-1.0, 0.5)]
    critic_weights = [([1.0, -2.0, 3.0, 0.5], 0.25), ([-1.0, 0.5, 2.0, -4.0], -1.0)]
    with torch.no_grad():
        for actor, (w, b) in zip(learner.target_actors, actor_weights):
            actor.net[0].weight.fill_(w)
            actor.net[0].bias.fill_(b)
        for critic, (w, b) in zip(learner.target_critics, critic_weights):
            critic.net[0].weight.copy_(torch.tensor([w]))
            critic.net[0].bias.fill_(b)
        for online in (*learner.actors.parameters(), *learner.critics.parameters()):
            online.fill_(7.0)  # far from the targets: a target computed from them is wrong
    obs = [torch.tensor([[0.3], [-0.2]]), torch.tensor([[1.5], [0.7]])]
    next_obs = [torch.tensor([[1.0], [-0.5]]), torch.tensor([[2.0], [0.25]])]
    batch = Batch(obs, [torch.full((2, 1), 0.9)] * 2, torch.tensor([[1.0, -2.0], [0.5, 3.0]]), next_obs,
                  terminated=torch.tensor([0.0, 1.0]), discount=torch.tensor([0.9, 0.81]))

    def sigmoid(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    expected = [[], []]
    for row in range(2):
        o = [next_obs[j][row, 0].item() for j in range(2)]
        a = [sigmoid(w * o_j + b) for (w, b), o_j in zip(actor_weights, o)]
        for i, (w, b) in enumerate(critic_weights):
            q_next = sum(wk * xk for wk, xk in zip(w, [*o, *a])) + b
            not_done = 1.0 - batch.terminated[row].item()
            expected[i].append(batch.rewards[row, i].item() + batch.discount[row].item() * not_done * q_next)
    assert expected[0][1] == 0.5 and expected[1][1] == 3.0  # terminated: the reward alone
    for target, by_hand in zip(learner.td_targets(batch), expected):
        torch.testing.assert_close(target, torch.tensor(by_hand))


def test_actor_loss_by_hand():
    q, raw = torch.tensor([1.0, 3.0]), torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    # -mean(Q) + 0.1 * mean(raw^2) = -2 + 0.1 * 14 / 4
    assert actor_loss(q, raw, 0.1).item() == pytest.approx(-2.0 + 0.35)


def test_one_update_steps_each_network_by_its_learning_rate_and_the_targets_by_tau(tiny_config):
    """Adam's first step moves every parameter with a gradient by lr; Polyak: target' = (1 - tau) target + tau online."""
    torch.manual_seed(0)
    config = dataclasses.replace(tiny_config, actor_lr=0.02, critic_lr=0.05, tau=0.25)
    learner = learner_for("simple_speaker_listener_v4", config, "centralized")
    with torch.no_grad():  # targets apart from the online networks, so that the Polyak step shows
        for p in [*learner.target_actors.parameters(), *learner.target_critics.parameters()]:
            p.add_(torch.randn_like(p))
    old = {name: [p.clone() for p in getattr(learner, name).parameters()]
           for name in ("actors", "critics", "target_actors", "target_critics")}
    learner.update(random_batch(learner, size=32))
    for name, lr in (("actors", 0.02), ("critics", 0.05)):
        steps = torch.cat([(p - o).abs().flatten() for p, o in zip(getattr(learner, name).parameters(), old[name])])
        assert steps.max().item() == pytest.approx(lr, rel=1e-3), name
    for name in ("actors", "critics"):
        for target, before, online in zip(getattr(learner, f"target_{name}").parameters(), old[f"target_{name}"],
                                          getattr(learner, name).parameters()):
            torch.testing.assert_close(target, 0.75 * before + 0.25 * online)
            assert not target.requires_grad  # targets are never trained


def test_update_reports_every_statistic_per_agent(tiny_config):
    torch.manual_seed(0)
    learner = learner_for("simple_spread_v3", tiny_config, "centralized")
    batch = random_batch(learner, size=32)
    with torch.no_grad():
        entropies = [torch.distributions.Categorical(logits=actor(o)).entropy().mean()
                     for actor, o in zip(learner.actors, batch.obs)]
    stats = learner.update(batch)
    assert set(stats) == {"critic_loss", "q", "critic_grad_norm", "actor_loss", "actor_grad_norm", "policy_entropy"}
    assert all(value.shape == (3,) and value.isfinite().all() for value in stats.values())
    assert (stats["critic_grad_norm"] > 0).all() and (stats["actor_grad_norm"] > 0).all()
    torch.testing.assert_close(stats["policy_entropy"], torch.stack(entropies))
    expert = ([torch.randn(32, 18) for _ in range(3)], [torch.eye(5)[torch.arange(32) % 5] for _ in range(3)])
    assert learner.update(batch, extra_actor_loss=CloningTerm(*expert, 1.0))["bc_loss"].shape == (3,)


def test_an_update_without_diagnostics_leaves_out_the_entropy_and_trains_the_same(tiny_config):
    batch = None
    learners = []
    for diagnostics in (True, False):
        torch.manual_seed(0)
        learner = learner_for("simple_spread_v3", tiny_config, "centralized")
        batch = batch or random_batch(learner, size=32)
        torch.manual_seed(1)  # the same Gumbel noise in both
        stats = learner.update(batch, diagnostics=diagnostics)
        assert ("policy_entropy" in stats) == diagnostics
        learners.append((learner, stats))
    (full, full_stats), (lean, lean_stats) = learners
    for name, values in lean_stats.items():
        assert torch.equal(values, full_stats[name]), name
    for a, b in zip([*full.actors.parameters(), *full.critics.parameters()],
                    [*lean.actors.parameters(), *lean.critics.parameters()]):
        assert torch.equal(a, b)


def test_a_learner_state_dict_restores_every_network_and_optimizer(tiny_config):
    torch.manual_seed(0)
    trained = learner_for("simple_speaker_listener_v4", tiny_config, "centralized")
    batch = random_batch(trained, size=32)
    trained.update(batch)
    saved = io.BytesIO()  # through a file, as a checkpoint: a loaded optimizer would share the moments' tensors
    torch.save(trained.state_dict(), saved)
    saved.seek(0)
    torch.manual_seed(1)
    restored = learner_for("simple_speaker_listener_v4", tiny_config, "centralized")
    restored.load_state_dict(torch.load(saved, weights_only=True))
    for learner in (trained, restored):  # the same Gumbel noise for both next updates
        torch.manual_seed(2)
        learner.update(batch)
    for name in ("actors", "critics", "target_actors", "target_critics"):
        for a, b in zip(getattr(trained, name).parameters(), getattr(restored, name).parameters()):
            torch.testing.assert_close(a, b, msg=name)


def test_an_unknown_critic_is_refused_with_the_choices(tiny_config):
    with pytest.raises(ValueError, match="^critic: 'joint' is not one of 'centralized', 'independent'$"):
        learner_for("simple_spread_v3", tiny_config, "joint")
