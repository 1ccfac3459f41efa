import math

import pytest
import torch

from maddpg_gail.discriminators import (
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
    expert, policy, s = torch.tensor([[3.0], [1.0]]), torch.tensor([[-2.0], [0.5]]), 0.1

    def bce(logit: float, label: float) -> float:
        d = 1 / (1 + math.exp(-logit))
        return -(label * math.log(d) + (1 - label) * math.log(1 - d))

    expected = (bce(3.0, 1 - s) + bce(1.0, 1 - s)) / 2 + (bce(-2.0, s) + bce(0.5, s)) / 2
    assert discriminator_loss(expert, policy, label_smoothing=s).item() == pytest.approx(expected, rel=1e-6)
    unsmoothed = (bce(3.0, 1) + bce(1.0, 1)) / 2 + (bce(-2.0, 0) + bce(0.5, 0)) / 2
    assert discriminator_loss(expert, policy).item() == pytest.approx(unsmoothed, rel=1e-6)
    assert expected - unsmoothed == pytest.approx(0.1 * (2.0 - -0.75))  # BCE is linear in the label


def test_gradient_penalty_is_zero_for_a_unit_slope_discriminator():
    discriminators = Discriminators([1], [1], (), centralized=False)
    with torch.no_grad():  # D(o, a) = 0.6 o + 0.8 a: gradient norm exactly 1
        discriminators.nets[0][0].weight.copy_(torch.tensor([[0.6, 0.8]]))
    expert = ([torch.randn(16, 1)], [torch.randn(16, 1)])
    policy = ([torch.randn(16, 1)], [torch.randn(16, 1)])
    assert gradient_penalty(discriminators, expert, policy).abs().max() < 1e-10


def band_discriminator() -> Discriminators:
    """D(o, a) = relu(o) - relu(o - 1): slope 1 in o (gradient norm 1) for 0 < o < 1, flat (norm 0) outside."""
    discriminators = Discriminators([1], [1], (2,), centralized=False)
    first, _, second = discriminators.nets[0]
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
        first.bias.copy_(torch.tensor([0.0, -1.0]))
        second.weight.copy_(torch.tensor([[1.0, -1.0]]))
        second.bias.zero_()
    return discriminators


def test_gradient_penalty_is_taken_at_uniform_mixtures_of_expert_and_policy_inputs():
    """Expert o = 2, policy o = -1: the mixture 3 alpha - 1 falls in the band, where the penalty is 0, for
    alpha in (1/3, 2/3); everywhere else (at either end too) the gradient is 0 and the penalty 1. So the mean
    penalty is 2/3 for alpha ~ U(0, 1), and 1 at the expert or policy points themselves."""
    torch.manual_seed(0)
    n = 20_000
    expert = ([torch.full((n, 1), 2.0)], [torch.randn(n, 1)])
    policy = ([torch.full((n, 1), -1.0)], [torch.randn(n, 1)])
    penalty = gradient_penalty(band_discriminator(), expert, policy)
    assert penalty.shape == (1,) and penalty.item() == pytest.approx(2 / 3, abs=0.02)  # 5 standard errors


def test_gradient_penalty_is_the_squared_distance_of_the_gradient_norm_from_1():
    """Expert and policy at the same points: the penalty is the mean of (||grad D|| - 1)^2 there, whatever alpha."""
    discriminators = Discriminators([1], [1], (), centralized=False)
    with torch.no_grad():  # D(o, a) = 3 o + 4 a: gradient norm 5, penalty (5 - 1)^2 = 16
        discriminators.nets[0][0].weight.copy_(torch.tensor([[3.0, 4.0]]))
    points = ([torch.randn(8, 1)], [torch.randn(8, 1)])
    assert gradient_penalty(discriminators, points, points).item() == pytest.approx(16.0)
    band = ([torch.tensor([[0.5], [0.25], [2.0], [-1.0]])], [torch.zeros(4, 1)])
    assert gradient_penalty(band_discriminator(), band, band).item() == pytest.approx(0.5)  # norms 1, 1, 0, 0
