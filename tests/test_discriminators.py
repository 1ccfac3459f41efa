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
    smoothed = discriminator_loss(torch.zeros(4, 1), torch.zeros(4, 1), label_smoothing=0.1)
    assert smoothed.item() == pytest.approx(2 * math.log(2))


def test_gradient_penalty_is_zero_for_a_unit_slope_discriminator():
    discriminators = Discriminators([1], [1], (), centralized=False)
    with torch.no_grad():  # D(o, a) = 0.6 o + 0.8 a: gradient norm exactly 1
        discriminators.nets[0][0].weight.copy_(torch.tensor([[0.6, 0.8]]))
    expert = ([torch.randn(16, 1)], [torch.randn(16, 1)])
    policy = ([torch.randn(16, 1)], [torch.randn(16, 1)])
    assert gradient_penalty(discriminators, expert, policy).abs().max() < 1e-10
