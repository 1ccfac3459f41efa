import io
import math

import pytest
import torch
import torch.nn.functional as F

from maddpg_gail.discriminators import (
    GRADIENT_PENALTY_POINTS,
    DiscriminatorTrainer,
    Discriminators,
    discriminator_loss,
    discriminator_reward,
    gradient_penalty,
)

OBS_DIMS, ACTION_DIMS = [4, 6], [3, 2]


def samples(n: int, shift: float, generator: torch.Generator):
    obs = [torch.randn(n, d, generator=generator) + shift for d in OBS_DIMS]
    actions = [torch.randn(n, d, generator=generator) + shift for d in ACTION_DIMS]
    return obs, actions


@pytest.mark.parametrize("centralized", [False, True])
def test_loss_falls_on_separable_data_and_expert_samples_earn_more(centralized):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    trainer = DiscriminatorTrainer(Discriminators(OBS_DIMS, ACTION_DIMS, (32, 32), centralized), lr=1e-2,
                                   reward_form="softplus", label_smoothing=0.0, grad_penalty=1.0)
    first = trainer.update(samples(256, +1.0, generator), samples(256, -1.0, generator))
    for _ in range(150):
        last = trainer.update(samples(256, +1.0, generator), samples(256, -1.0, generator))
    assert last.loss.sum() < 0.5 * first.loss.sum()
    assert (last.expert_accuracy > 0.95).all() and (last.policy_accuracy > 0.95).all()
    expert_reward = trainer.rewards(*samples(500, +1.0, generator))
    policy_reward = trainer.rewards(*samples(500, -1.0, generator))
    assert expert_reward.shape == (500, 2)
    assert (expert_reward.mean(0) > policy_reward.mean(0) + 1.0).all()


@pytest.mark.parametrize("centralized", [False, True])
def test_each_discriminator_sees_only_what_its_mode_allows(centralized):
    torch.manual_seed(0)
    discriminators = Discriminators(OBS_DIMS, ACTION_DIMS, (16,), centralized)
    obs, actions = samples(8, 0.0, torch.Generator().manual_seed(1))
    joint = sum(OBS_DIMS) + sum(ACTION_DIMS)
    expected_inputs = [joint, joint] if centralized else [4 + 3, 6 + 2]
    assert [net[0].in_features for net in discriminators.nets] == expected_inputs
    before = discriminators(obs, actions)
    changed_obs = [obs[0], obs[1] + 1.0]  # change agent 1's observation and action only
    changed_actions = [actions[0], actions[1] + 1.0]
    after = discriminators(changed_obs, changed_actions)
    assert not torch.equal(before[:, 1], after[:, 1])
    assert torch.equal(before[:, 0], after[:, 0]) != centralized  # D_0 moves only when it sees everyone


def test_reward_forms_follow_their_definitions():
    logits = torch.tensor([-2.0, 0.0, 3.0])
    d = torch.sigmoid(logits)
    torch.testing.assert_close(discriminator_reward(logits, "softplus"), -torch.log(1 - d))
    torch.testing.assert_close(discriminator_reward(logits, "logit"), torch.log(d) - torch.log(1 - d))
    torch.testing.assert_close(discriminator_reward(logits, "log_d"), torch.log(d))
    with pytest.raises(ValueError, match="unknown discriminator reward 'exp'"):
        discriminator_reward(logits, "exp")


def test_loss_labels_expert_high():
    confident_right = discriminator_loss(torch.full((4, 2), 10.0), torch.full((4, 2), -10.0))
    confident_wrong = discriminator_loss(torch.full((4, 2), -10.0), torch.full((4, 2), 10.0))
    assert confident_right.shape == (2,) and (confident_right < 1e-3).all() and (confident_wrong > 19).all()


def test_label_smoothing_moves_the_targets_to_1_minus_s_and_s():
    """Per agent (columns), the mean BCE of expert logits against 1 - s plus that of policy logits against s."""
    expert, policy, s = torch.tensor([[3.0, -1.0], [1.0, 0.5]]), torch.tensor([[-2.0, 2.0], [0.5, 0.0]]), 0.1

    def bce(logit: float, label: float) -> float:
        d = 1 / (1 + math.exp(-logit))
        return -(label * math.log(d) + (1 - label) * math.log(1 - d))

    def by_hand(s: float) -> list[float]:
        return [sum(bce(x, 1 - s) for x in expert[:, i].tolist()) / 2 + sum(bce(x, s) for x in policy[:, i].tolist()) / 2
                for i in range(2)]

    smoothed, unsmoothed = by_hand(s), by_hand(0.0)
    assert discriminator_loss(expert, policy, label_smoothing=s).tolist() == pytest.approx(smoothed, rel=1e-6)
    assert discriminator_loss(expert, policy).tolist() == pytest.approx(unsmoothed, rel=1e-6)
    # BCE is linear in the label: smoothing adds s * (mean expert logit - mean policy logit), visible here
    assert [a - b for a, b in zip(smoothed, unsmoothed)] == pytest.approx([0.1 * (2.0 + 0.75), 0.1 * (-0.25 - 1.0)])


def test_gradient_penalty_is_zero_for_a_unit_slope_discriminator():
    discriminators = Discriminators([1], [1], (), centralized=False)
    with torch.no_grad():  # D(o, a) = 0.6 o + 0.8 a: gradient norm exactly 1
        discriminators.nets[0][0].weight.copy_(torch.tensor([[0.6, 0.8]]))
    expert = ([torch.randn(16, 1)], [torch.randn(16, 1)])
    policy = ([torch.randn(16, 1)], [torch.randn(16, 1)])
    assert gradient_penalty(discriminators, expert, policy).abs().max() < 1e-10


def staircase_discriminator() -> Discriminators:
    """D(o, a) = relu(o) + relu(o - 1) + relu(o - 2): its gradient norm is the number of steps below o (0 to 3),
    so the penalty (||grad|| - 1)^2 tells where D was evaluated: 1 below 0, 0 in (0, 1), 1 in (1, 2), 4 above 2."""
    discriminators = Discriminators([1], [1], (3,), centralized=False)
    first, _, second = discriminators.nets[0]
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0]] * 3))
        first.bias.copy_(torch.tensor([0.0, -1.0, -2.0]))
        second.weight.fill_(1.0)
        second.bias.zero_()
    return discriminators


def test_gradient_penalty_is_taken_at_uniform_mixtures_of_expert_and_policy_inputs():
    """Expert o = 2.5, policy o = -0.5: the mixture 3 alpha - 0.5 for alpha ~ U(0, 1) is below 0, in (0, 1), (1, 2)
    and above 2 with probabilities 1/6, 1/3, 1/3, 1/6: a mean penalty of 1/6 + 1/3 + 4/6 = 7/6. At the expert
    points it would be 4, at the policy points 1; a mixture formula off by a sign or a factor gives 0.5 to 1.5."""
    torch.manual_seed(0)
    n = 50_000
    expert = ([torch.full((n, 1), 2.5)], [torch.randn(n, 1)])
    policy = ([torch.full((n, 1), -0.5)], [torch.randn(n, 1)])
    penalty = gradient_penalty(staircase_discriminator(), expert, policy)
    assert penalty.shape == (1,) and penalty.item() == pytest.approx(7 / 6, abs=0.025)  # 4 standard errors


def test_gradient_penalty_is_the_squared_distance_of_the_gradient_norm_from_1():
    """Expert and policy at the same points: the penalty is the mean of (||grad D|| - 1)^2 there, whatever alpha."""
    discriminators = Discriminators([1], [1], (), centralized=False)
    with torch.no_grad():  # D(o, a) = 3 o + 4 a: gradient norm 5, penalty (5 - 1)^2 = 16
        discriminators.nets[0][0].weight.copy_(torch.tensor([[3.0, 4.0]]))
    points = ([torch.randn(8, 1)], [torch.randn(8, 1)])
    assert gradient_penalty(discriminators, points, points).item() == pytest.approx(16.0)
    stairs = ([torch.tensor([[0.5], [1.5], [2.5], [-1.0]])], [torch.zeros(4, 1)])
    assert gradient_penalty(staircase_discriminator(), stairs, stairs).item() == pytest.approx(1.5)  # (0+1+4+1)/4


@pytest.mark.parametrize("centralized, expected", [(False, [16.0, 0.0]), (True, [16.0, 16.0])])
def test_gradient_penalty_differentiates_each_discriminator_by_the_inputs_it_sees(centralized, expected):
    """Two linear D_i: decentralized, D_0 = 3 o_0 + 4 a_0 (norm 5) and D_1 = 0.6 o_1 + 0.8 a_1 (norm 1); centralized,
    both D_i = o_0 + 2 o_1 + 2 a_0 + 4 a_1 (norm 5 over all inputs, sqrt(5) or sqrt(20) over agent i's alone)."""
    discriminators = Discriminators([1, 1], [1, 1], (), centralized=centralized)
    weights = [[1.0, 2.0, 2.0, 4.0]] * 2 if centralized else [[3.0, 4.0], [0.6, 0.8]]
    with torch.no_grad():
        for net, w in zip(discriminators.nets, weights):
            net[0].weight.copy_(torch.tensor([w]))
    points = ([torch.randn(8, 1), torch.randn(8, 1)], [torch.randn(8, 1), torch.randn(8, 1)])
    torch.testing.assert_close(gradient_penalty(discriminators, points, points), torch.tensor(expected))


def two_agent_linear_trainer(scale: float, **kwargs) -> DiscriminatorTrainer:
    """D_i = scale * o_i: logits are the observations times `scale`, the gradient norm is `scale`."""
    discriminators = Discriminators([1, 1], [1, 1], (), centralized=False)
    with torch.no_grad():
        for net in discriminators.nets:
            net[0].weight.copy_(torch.tensor([[scale, 0.0]]))
            net[0].bias.zero_()
    return DiscriminatorTrainer(discriminators, **kwargs)


def test_an_update_reports_the_loss_accuracies_and_rewards_of_the_logits_it_saw():
    # logits (scale 2): expert agent 0 (1, 0, 4, -2), agent 1 (3, 3, -1, 0); policy (-1, 0, 0.5, -4), (0.5, -1, -1, 0)
    expert_obs = [torch.tensor([[0.5], [0.0], [2.0], [-1.0]]), torch.tensor([[1.5], [1.5], [-0.5], [0.0]])]
    policy_obs = [torch.tensor([[-0.5], [0.0], [0.25], [-2.0]]), torch.tensor([[0.25], [-0.5], [-0.5], [0.0]])]
    actions = [torch.zeros(4, 1), torch.zeros(4, 1)]
    trainer = two_agent_linear_trainer(2.0, lr=0.01, reward_form="logit", label_smoothing=0.2, grad_penalty=0.5)
    stats = trainer.update((expert_obs, actions), (policy_obs, actions))
    expert_logits, policy_logits = 2 * torch.cat(expert_obs, 1), 2 * torch.cat(policy_obs, 1)
    # gradient norm 2 everywhere: the penalty is (2 - 1)^2 = 1 per agent, weighted 0.5
    torch.testing.assert_close(stats.loss, discriminator_loss(expert_logits, policy_logits, 0.2) + 0.5)
    torch.testing.assert_close(stats.expert_accuracy, torch.tensor([0.5, 0.5]))  # logit > 0, not >= 0
    torch.testing.assert_close(stats.policy_accuracy, torch.tensor([0.5, 0.5]))  # logit < 0, not <= 0
    torch.testing.assert_close(stats.policy_reward, policy_logits.mean(0))  # the "logit" form's reward
    assert discriminator_reward(torch.tensor([-1.0, 2.0])).tolist() == F.softplus(torch.tensor([-1.0, 2.0])).tolist()


def test_the_gradient_penalty_of_an_update_is_taken_at_the_batch_s_first_samples_only():
    """Staircase D (penalty 0 for o in (0, 1), 4 above 2): the first GRADIENT_PENALTY_POINTS samples of either side
    in (0, 1), the rest at 2.5. The update's penalty is 0, as on those samples alone; over the whole batch it
    would be 4 * (1 - points / batch)."""
    points, batch = GRADIENT_PENALTY_POINTS, 2 * GRADIENT_PENALTY_POINTS
    obs = torch.cat([torch.rand(points, 1) * 0.8 + 0.1, torch.full((batch - points, 1), 2.5)])
    samples = ([obs], [torch.zeros(batch, 1)])
    trainer = DiscriminatorTrainer(staircase_discriminator(), lr=0.01, reward_form="softplus", label_smoothing=0.0,
                                   grad_penalty=2.0)
    logits = trainer.discriminators(*samples).detach()
    assert gradient_penalty(trainer.discriminators, samples, samples).item() == pytest.approx(2.0)  # 4 * 1/2
    stats = trainer.update(samples, samples)
    torch.testing.assert_close(stats.loss, discriminator_loss(logits, logits))  # + 2.0 * 0


def test_the_learning_rate_sets_the_size_of_the_first_step():
    """Adam's first step moves every parameter with a gradient by lr (times sign); lr 0 leaves D as it was."""
    batch = ([torch.randn(16, 1), torch.randn(16, 1)], [torch.randn(16, 1), torch.randn(16, 1)])
    for lr in (0.0, 0.05):
        trainer = two_agent_linear_trainer(1.0, lr=lr, reward_form="softplus", label_smoothing=0.0, grad_penalty=0.0)
        before = [p.clone() for p in trainer.discriminators.parameters()]
        trainer.update(batch, ([o + 1 for o in batch[0]], batch[1]))
        steps = torch.cat([(p - b).abs().flatten() for p, b in zip(trainer.discriminators.parameters(), before)])
        assert steps.max().item() == pytest.approx(lr, rel=1e-3)


def test_an_unknown_reward_form_is_refused_when_the_trainer_is_built():
    with pytest.raises(ValueError, match="unknown discriminator reward 'exp'; choose one of: softplus, logit, log_d$"):
        two_agent_linear_trainer(1.0, lr=0.01, reward_form="exp", label_smoothing=0.0, grad_penalty=0.0)


def test_a_trainer_state_dict_restores_the_discriminators_and_the_optimizer():
    torch.manual_seed(0)
    batch = ([torch.randn(16, 1), torch.randn(16, 1)], [torch.randn(16, 1), torch.randn(16, 1)])
    other = ([o + 1 for o in batch[0]], batch[1])
    trained = two_agent_linear_trainer(1.0, lr=0.05, reward_form="softplus", label_smoothing=0.0, grad_penalty=0.0)
    trained.update(batch, other)
    restored = two_agent_linear_trainer(3.0, lr=0.05, reward_form="softplus", label_smoothing=0.0, grad_penalty=0.0)
    saved = io.BytesIO()  # through a file, as a checkpoint: a loaded optimizer would share the moments' tensors
    torch.save(trained.state_dict(), saved)
    saved.seek(0)
    restored.load_state_dict(torch.load(saved, weights_only=True))
    for a, b in zip(trained.update(batch, other), restored.update(batch, other)):  # Adam's moments came along too
        torch.testing.assert_close(a, b)
    for a, b in zip(trained.discriminators.parameters(), restored.discriminators.parameters()):
        torch.testing.assert_close(a, b)


class PerAgentDiscriminators(torch.nn.Module):
    """The discriminators as they were before their stacks: every agent's network called on its own."""

    def __init__(self, stacked: Discriminators):
        super().__init__()
        self.centralized = stacked.centralized
        self.inputs = stacked.inputs
        self.nets = torch.nn.ModuleList(torch.nn.Sequential(*(
            torch.nn.Linear(m.in_features, m.out_features) if isinstance(m, torch.nn.Linear) else m for m in net))
            for net in stacked.nets)
        self.nets.load_state_dict(stacked.nets.state_dict())  # values copied, memory not shared

    def logits(self, inputs):
        return torch.cat([net(x) for net, x in zip(self.nets, inputs)], dim=-1)

    def forward(self, obs, actions):
        return self.logits(self.inputs(obs, actions))

    def stacked_parameters(self):  # what a DiscriminatorTrainer optimizes: here every agent's own parameters
        return list(self.parameters())


@pytest.mark.parametrize("centralized", [False, True])
def test_stacked_discriminator_updates_are_the_per_agent_updates(centralized):
    """Three agents, two of one shape: the stacked trainer's steps (loss, gradient penalty, Adam) are the ones of
    per-agent discriminators with one Adam over all their parameters, and of `stack=False` (one network at a time);
    and a state saved by such per-agent discriminators (before the stacks) resumes in either."""
    obs_dims, action_dims = [4, 6, 4], [3, 2, 3]
    torch.manual_seed(0)
    stacked = Discriminators(obs_dims, action_dims, (16, 16), centralized)
    assert stacked.groups == ([[0, 1, 2]] if centralized else [[0, 2], [1]])
    reference = PerAgentDiscriminators(stacked)
    unstacked = Discriminators(obs_dims, action_dims, (16, 16), centralized, stack=False)  # --no-stack-agents
    assert unstacked.groups == [[0], [1], [2]]
    unstacked.load_state_dict(stacked.state_dict())
    trainers = [DiscriminatorTrainer(d, lr=1e-2, reward_form="softplus", label_smoothing=0.0, grad_penalty=10.0)
                for d in (stacked, reference, unstacked)]

    def step(seed):
        generator = torch.Generator().manual_seed(seed)
        expert = ([torch.randn(32, d, generator=generator) for d in obs_dims],
                  [torch.randn(32, d, generator=generator) for d in action_dims])
        policy = ([o + 1 for o in expert[0]], [a - 1 for a in expert[1]])
        results = []
        for trainer in trainers:
            torch.manual_seed(seed)  # the gradient penalty's mixing weights
            results.append(trainer.update(expert, policy))
        for result in results[1:]:
            torch.testing.assert_close(results[0].loss, result.loss)

    def assert_same():
        for other in (reference, unstacked):
            for a, b in zip(stacked.nets.parameters(), other.nets.parameters()):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)

    for seed in range(3):
        step(seed)
    assert_same()
    saved = io.BytesIO()
    torch.save({"discriminators": reference.state_dict(), "optimizer": trainers[1].optimizer.state_dict()}, saved)
    for trainer in (trainers[0], trainers[2]):
        saved.seek(0)
        trainer.load_state_dict(torch.load(saved, weights_only=True))
    step(7)
    assert_same()


def test_moving_the_discriminators_moves_their_stacks():
    discriminators = Discriminators(OBS_DIMS, ACTION_DIMS, (8,), centralized=False).double()
    leaves = discriminators.stacked_parameters()
    assert all(t.dtype == torch.float64 for t in leaves)
    with torch.no_grad():
        leaves[0].add_(1.0)  # the stacks are still the modules' memory
    assert torch.equal(discriminators.nets[0][0].weight, leaves[0][0])  # agent 0's first layer
