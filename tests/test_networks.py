import numpy as np
import pytest
import torch
from gymnasium import spaces

from envs.spread import SpreadLayout
from maddpg_gail.config import Config
from maddpg_gail.maddpg import clip_grad_norms_, make_actors, soft_update
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
    soft_update(list(target.parameters()), list(source.parameters()), tau=0.25)
    for old, new, src in zip(before, target.parameters(), source.parameters()):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * src)
    soft_update(list(target.parameters()), list(source.parameters()), tau=1.0)
    for new, src in zip(target.parameters(), source.parameters()):
        assert torch.equal(new, src)


def test_clipping_every_agent_at_once_is_clip_grad_norm_of_each_agent_alone():
    torch.manual_seed(0)
    nets = [torch.nn.Linear(4, 3) for _ in range(3)]
    grads = [[torch.randn_like(p) * scale for p in net.parameters()] for net, scale in zip(nets, (0.1, 1.0, 10.0))]
    for net, group in zip(nets, grads):
        for p, g in zip(net.parameters(), group):
            p.grad = g.clone()
    norms = clip_grad_norms_([[p.grad for p in net.parameters()] for net in nets], max_norm=0.5)
    for net, group, norm in zip(nets, grads, norms):
        reference = [torch.nn.Parameter(p.detach().clone()) for p in net.parameters()]
        for r, g in zip(reference, group):
            r.grad = g.clone()
        expected = torch.nn.utils.clip_grad_norm_(reference, 0.5)
        assert torch.equal(norm, expected)  # the norm before clipping, to the bit
        assert all(torch.equal(p.grad, r.grad) for p, r in zip(net.parameters(), reference))
    # by hand: the first agent's gradients (norm below 0.5) are left alone, the others end at norm 0.5
    assert all(torch.equal(p.grad, g) for p, g in zip(nets[0].parameters(), grads[0]))
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in nets[2].parameters()]))
    torch.testing.assert_close(total, torch.tensor(0.5))


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


def test_distance_inputs_add_the_agent_landmark_distances_to_what_the_actors_see():
    config = Config(actor_inputs="distances", hidden_sizes=(8,))
    actors = make_actors(config, [18] * 3, [ActionSpec(discrete=True, dim=5)] * 3)
    plain = make_actors(Config(hidden_sizes=(8,)), [18] * 3, [ActionSpec(discrete=True, dim=5)] * 3)
    obs = torch.randn(7, 18)
    for actor, plain_actor in zip(actors, plain):
        assert actor.net[0].in_features == 18 + 9
        torch.testing.assert_close(actor(obs), actor.net(torch.cat([obs, SpreadLayout(3).distances(obs)], dim=1)))
        # the inputs hold no parameters: checkpoints name the same tensors, of an observation actor as before
        assert list(actor.state_dict()) == list(plain_actor.state_dict()) == ["net.0.weight", "net.0.bias",
                                                                             "net.2.weight", "net.2.bias"]
    with pytest.raises(ValueError, match="distances: defined for simple_spread_v3, not simple_speaker_listener_v4"):
        make_actors(Config(scenario="simple_speaker_listener_v4", actor_inputs="distances"), [3, 11],
                    [ActionSpec(discrete=True, dim=3), ActionSpec(discrete=True, dim=5)])
    with pytest.raises(ValueError, match="actor_inputs: 'dist' is not one of 'observation', 'distances'"):
        Config(actor_inputs="dist")  # the Config refuses it before any actor is made
