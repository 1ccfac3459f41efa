import numpy as np
import pytest
import torch
from gymnasium import spaces

from maddpg_gail.maddpg import soft_update
from maddpg_gail.networks import ActionSpec, Actor, gumbel_softmax_straight_through


def test_straight_through_gumbel_is_one_hot_forward_with_a_gradient():
    logits = torch.randn(64, 5, requires_grad=True)
    sample = gumbel_softmax_straight_through(logits)
    assert torch.equal(sample.sum(dim=1), torch.ones(64))
    assert set(sample.unique().tolist()) == {0.0, 1.0}
    (sample * torch.arange(5.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_gumbel_samples_follow_the_logits():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(20000, 3)
    frequencies = gumbel_softmax_straight_through(logits).mean(dim=0)
    torch.testing.assert_close(frequencies, torch.tensor([0.7, 0.2, 0.1]), atol=0.02, rtol=0)


def test_soft_update_moves_target_by_tau():
    torch.manual_seed(0)
    source, target = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    before = [p.clone() for p in target.parameters()]
    soft_update(target, source, tau=0.25)
    for old, new, src in zip(before, target.parameters(), source.parameters()):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * src)
    soft_update(target, source, tau=1.0)
    for new, src in zip(target.parameters(), source.parameters()):
        assert torch.equal(new, src)


def test_action_spec_round_trip_and_bounds():
    discrete = ActionSpec.from_space(spaces.Discrete(5))
    assert discrete == ActionSpec(discrete=True, dim=5)
    env_actions = np.array([0, 4, 2])
    assert np.array_equal(discrete.to_env(discrete.from_env(env_actions)), env_actions)
    box = ActionSpec.from_space(spaces.Box(0, 1, (3,)))
    assert box == ActionSpec(discrete=False, dim=3)
    assert box.to_env(torch.tensor([[-0.5, 0.5, 1.5]])).tolist() == [[0.0, 0.5, 1.0]]
    with pytest.raises(ValueError, match="Box action spaces must be"):
        ActionSpec.from_space(spaces.Box(-1, 1, (3,)))


def test_continuous_exploration_stays_inside_the_box():
    actor = Actor(4, ActionSpec(discrete=False, dim=5), (8,))
    actions = actor.explore(torch.randn(1000, 4) * 10, noise_std=2.0)
    assert actions.min() >= 0.0 and actions.max() <= 1.0
