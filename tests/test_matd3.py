"""MATD3 (--algorithm matd3) and the discrete gradient estimators (--gradient-estimator, --gumbel-temperature)."""

import dataclasses
import io
import math
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from maddpg_gail.buffer import Batch
from maddpg_gail.config import Config, ConfigError
from maddpg_gail.maddpg import MADDPG, critic_loss, make_actors
from maddpg_gail.networks import (ActionSpec, Actor, conditional_gumbel, gumbel_noise, gumbel_rao,
                                  gumbel_softmax_straight_through, sample_one_hot)
from maddpg_gail.trainer import resume, train

ROOT = Path(__file__).resolve().parents[1]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def fixed_noise(monkeypatch, values: torch.Tensor) -> None:
    """torch.randn_like returns `values` (the target policy smoothing's standard normal draws)."""
    monkeypatch.setattr(torch, "randn_like", lambda x: values.expand_as(x).clone())


def linear_matd3(tiny_config, **changes) -> MADDPG:
    """Two agents, one continuous action each, linear actors and twin linear critics (no hidden layers)."""
    config = dataclasses.replace(tiny_config, algorithm="matd3", continuous_actions=True, **changes)
    config.hidden_sizes = ()  # linear networks: no flag or file makes them, but the learner builds them as well
    return MADDPG([1, 1], [ActionSpec(False, 1), ActionSpec(False, 1)], config, torch.device("cpu"))


def test_the_twin_target_is_the_smaller_target_head_at_the_smoothed_target_actions(tiny_config, monkeypatch):
    """r + discount * (1 - terminated) * min(Q1', Q2')(o', a') with a'_j = sigmoid(w_j o'_j + b_j + clip(0.2 n)),
    n the normal draw (3 -> 0.6 clipped to 0.5; -1 -> -0.2); the online networks are far off and must not count."""
    learner = linear_matd3(tiny_config, target_noise=0.2, target_noise_clip=0.5)
    actor_weights = [(2.0, 0.0), (-1.0, 0.5)]
    heads = [[([1.0, -2.0, 3.0, 0.5], 0.25), ([0.5, -1.0, -2.0, 1.0], 1.0)],
             [([-1.0, 0.5, 2.0, -4.0], -1.0), ([-1.0, 0.5, 2.0, -1.0], -3.0)]]
    with torch.no_grad():
        for actor, (w, b) in zip(learner.target_actors, actor_weights):
            actor.net[0].weight.fill_(w)
            actor.net[0].bias.fill_(b)
        for critic, agent_heads in zip(learner.target_critics, heads):
            for net, (w, b) in zip((critic.net, critic.twin), agent_heads):
                net[0].weight.copy_(torch.tensor([w]))
                net[0].bias.fill_(b)
        for online in (*learner.actors.parameters(), *learner.critics.parameters()):
            online.fill_(7.0)
    next_obs = [torch.tensor([[1.0], [-0.5], [0.3]]), torch.tensor([[2.0], [0.25], [-1.0]])]
    batch = Batch([torch.zeros(3, 1)] * 2, [torch.full((3, 1), 0.9)] * 2, torch.tensor([[1.0, -2.0], [0.5, 3.0],
                  [0.0, 1.0]]), next_obs, terminated=torch.tensor([0.0, 1.0, 0.0]),
                  discount=torch.tensor([0.9, 0.81, 0.5]))
    normal_draws = torch.tensor([[3.0], [-1.0], [0.5]])
    fixed_noise(monkeypatch, normal_draws)
    noise = [0.5, -0.2, 0.1]

    expected, chose = [[], []], set()
    for row in range(3):
        o = [next_obs[j][row, 0].item() for j in range(2)]
        a = [sigmoid(w * o_j + b + noise[row]) for (w, b), o_j in zip(actor_weights, o)]
        for i, agent_heads in enumerate(heads):
            q = [sum(wk * xk for wk, xk in zip(w, [*o, *a])) + b for w, b in agent_heads]
            chose.add(q.index(min(q)))
            not_done = 1.0 - batch.terminated[row].item()
            expected[i].append(batch.rewards[row, i].item() + batch.discount[row].item() * not_done * min(q))
    assert chose == {0, 1}  # each head is the smaller one somewhere: a target from one head alone is wrong
    for target, by_hand in zip(learner.td_targets(batch), expected):
        torch.testing.assert_close(target, torch.tensor(by_hand))


def test_discrete_target_smoothing_is_the_greedy_choice_of_the_noisy_clipped_logits(monkeypatch):
    actor = Actor(1, ActionSpec(True, 3), ())
    with torch.no_grad():
        actor.net[0].weight.zero_()
        actor.net[0].bias.copy_(torch.tensor([0.0, 0.3, 0.1]))
    obs = torch.zeros(1, 1)
    fixed_noise(monkeypatch, torch.tensor([[10.0, 0.0, 0.0]]))  # 2.0 clipped to 0.5: 0.5 > 0.3
    assert actor.smoothed(obs, noise_std=0.2, noise_clip=0.5).tolist() == [[1.0, 0.0, 0.0]]
    assert actor.smoothed(obs, noise_std=0.2, noise_clip=0.2).tolist() == [[0.0, 1.0, 0.0]]  # 0.2 < 0.3
    fixed_noise(monkeypatch, torch.tensor([[0.0, -2.0, 0.0]]))  # -0.4: 0.1 > 0.3 - 0.4
    assert actor.smoothed(obs, noise_std=0.2, noise_clip=0.5).tolist() == [[0.0, 0.0, 1.0]]


def test_the_critic_loss_sums_the_squared_errors_of_both_heads():
    target = torch.tensor([1.0, 2.0])
    # ((0 - 1)^2 + (4 - 2)^2) / 2 + ((1 - 1)^2 + (-1 - 2)^2) / 2 = 2.5 + 4.5
    assert critic_loss((torch.tensor([0.0, 4.0]), torch.tensor([1.0, -1.0])), target).item() == 7.0
    assert critic_loss((torch.tensor([0.0, 4.0]),), target).item() == 2.5


def random_batch(obs_dims, action_dims, size=16, seed=0) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    obs = [torch.randn(size, d, generator=generator) for d in obs_dims]
    actions = [torch.eye(d)[torch.randint(d, (size,), generator=generator)] for d in action_dims]
    return Batch(obs, actions, torch.randn(size, len(obs_dims), generator=generator),
                 [torch.randn(size, d, generator=generator) for d in obs_dims], torch.zeros(size),
                 torch.full((size,), 0.95))


@pytest.mark.parametrize("critic", ["centralized", "independent"])
def test_the_update_regresses_both_heads_on_the_one_target(tiny_config, critic):
    config = dataclasses.replace(tiny_config, algorithm="matd3", critic=critic, target_noise=0.0)
    learner = MADDPG([3, 4], [ActionSpec(True, 2), ActionSpec(True, 3)], config, torch.device("cpu"))
    assert all(hasattr(c, "twin") for c in [*learner.critics, *learner.target_critics])
    batch = random_batch([3, 4], [2, 3])
    with torch.no_grad():
        targets = learner.td_targets(batch)
        heads = [c.both(learner.critic_input(i, batch.obs, batch.actions)) for i, c in enumerate(learner.critics)]
        losses = [sum((q - y).pow(2).mean() for q in qs) for qs, y in zip(heads, targets)]
    stats = learner.update(batch)
    torch.testing.assert_close(stats["critic_loss"], torch.stack(losses))
    torch.testing.assert_close(stats["q"], torch.stack([qs[0].mean() for qs in heads]))
    twin_moved = [not torch.equal(before, after) for before, after in
                  zip([h[1] for h in heads], [c.both(learner.critic_input(i, batch.obs, batch.actions))[1]
                                              for i, c in enumerate(learner.critics)])]
    assert all(twin_moved)  # the second head is trained too


def snapshot(learner: MADDPG) -> dict[str, list[torch.Tensor]]:
    return {name: [p.detach().clone() for p in getattr(learner, name).parameters()]
            for name in ("actors", "critics", "target_actors", "target_critics")}


def moved(before: dict, after: dict) -> set[str]:
    return {name for name in before if any(not torch.equal(a, b) for a, b in zip(before[name], after[name]))}


def test_delayed_updates_touch_the_actors_and_targets_only_every_dth_update(tiny_config):
    config = dataclasses.replace(tiny_config, algorithm="matd3", policy_delay=3)
    learner = MADDPG([3, 4], [ActionSpec(True, 2), ActionSpec(True, 3)], config, torch.device("cpu"))
    with torch.no_grad():  # targets apart from the online networks, so that a Polyak step shows
        for p in [*learner.target_actors.parameters(), *learner.target_critics.parameters()]:
            p.add_(torch.randn_like(p))
    for update in range(1, 8):
        before = snapshot(learner)
        stats = learner.update(random_batch([3, 4], [2, 3], seed=update))
        if update % 3 == 0:
            assert moved(before, snapshot(learner)) == {"actors", "critics", "target_actors", "target_critics"}
            assert {"actor_loss", "actor_grad_norm", "policy_entropy"} <= set(stats)
        else:
            assert moved(before, snapshot(learner)) == {"critics"}, update
            assert set(stats) == {"critic_loss", "q", "critic_grad_norm"}
    assert learner.updates == 7


def test_maddpg_moves_actors_and_targets_at_every_update_whatever_policy_delay_says(tiny_config):
    learner = MADDPG([3, 4], [ActionSpec(True, 2), ActionSpec(True, 3)], tiny_config, torch.device("cpu"))
    assert not any(hasattr(c, "twin") for c in learner.critics)
    for update in range(3):
        before = snapshot(learner)
        learner.update(random_batch([3, 4], [2, 3], seed=update))
        assert moved(before, snapshot(learner)) == {"actors", "critics", "target_actors", "target_critics"}


def through_a_file(state: dict) -> dict:
    saved = io.BytesIO()
    torch.save(state, saved)
    saved.seek(0)
    return torch.load(saved, weights_only=True)


def test_a_matd3_state_dict_restores_the_update_count_so_the_delay_goes_on(tiny_config):
    config = dataclasses.replace(tiny_config, algorithm="matd3")  # policy_delay 2
    specs = [ActionSpec(True, 2), ActionSpec(True, 3)]
    torch.manual_seed(0)
    trained = MADDPG([3, 4], specs, config, torch.device("cpu"))
    trained.update(random_batch([3, 4], [2, 3]))  # one update: the next moves the actors
    torch.manual_seed(1)
    restored = MADDPG([3, 4], specs, config, torch.device("cpu"))
    restored.load_state_dict(through_a_file(trained.state_dict()))
    assert restored.updates == 1
    before = snapshot(restored)
    for learner in (trained, restored):
        torch.manual_seed(2)
        learner.update(random_batch([3, 4], [2, 3], seed=1))
    assert "actors" in moved(before, snapshot(restored))
    for name, params in snapshot(trained).items():
        for a, b in zip(params, snapshot(restored)[name]):
            torch.testing.assert_close(a, b, msg=name)


def test_a_state_dict_from_before_matd3_loads_into_maddpg(tiny_config):
    specs = [ActionSpec(True, 2), ActionSpec(True, 3)]
    old = MADDPG([3, 4], specs, tiny_config, torch.device("cpu")).state_dict()
    del old["updates"]  # what a checkpoint from before this field holds
    assert all(".twin." not in key for key in old["critics"])
    learner = MADDPG([3, 4], specs, tiny_config, torch.device("cpu"))
    learner.updates = 5
    learner.load_state_dict(through_a_file(old))
    assert learner.updates == 0
    assert set(learner.critics.state_dict()) == set(old["critics"])


# --- estimators --------------------------------------------------------------------------------------------------

ESTIMATORS = {
    "straight_through_gumbel": gumbel_softmax_straight_through,
    "straight_through_gumbel-t0.5": partial(gumbel_softmax_straight_through, temperature=0.5),
    "gumbel_rao": partial(gumbel_rao, samples=10),
    "gumbel_rao-t0.5": partial(gumbel_rao, samples=10, temperature=0.5),
    "gumbel_rao-k1": partial(gumbel_rao, samples=1),
}


@pytest.mark.parametrize("estimator", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_each_estimator_is_one_hot_forward_with_a_finite_non_zero_gradient(estimator):
    torch.manual_seed(0)
    logits = (torch.randn(64, 5) * 3).requires_grad_()
    sample = estimator(logits)
    assert ((sample == 0) | (sample == 1)).all() and (sample.sum(-1) == 1).all()
    (sample * torch.randn(64, 5)).sum().backward()
    assert logits.grad.isfinite().all() and (logits.grad.abs().sum(-1) > 0).all()
    # large logits, where exp(logits) overflows: still finite
    big = torch.tensor([[200.0, -200.0, 0.0]], requires_grad=True)
    (estimator(big) * torch.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    assert big.grad.isfinite().all()


@pytest.mark.parametrize("estimator", [ESTIMATORS["straight_through_gumbel"], ESTIMATORS["gumbel_rao"]],
                         ids=["straight_through_gumbel", "gumbel_rao"])
def test_each_estimators_samples_follow_the_softmax(estimator):
    torch.manual_seed(0)
    logits = torch.tensor([1.0, 0.0, -1.0]).repeat(20_000, 1)
    frequencies = estimator(logits).mean(0)
    torch.testing.assert_close(frequencies, logits[0].softmax(-1), atol=0.015, rtol=0)


def test_conditional_gumbel_keep_the_given_choice_and_the_gumbel_law():
    torch.manual_seed(0)
    logits = torch.tensor([0.5, -1.0, 2.0, 0.0])
    one_hot = F.one_hot(torch.distributions.Categorical(logits=logits).sample((4000,)), 4).float()
    noise = conditional_gumbel(logits.expand(4000, 4), one_hot, samples=3)  # [3, 4000, 4]
    perturbed = logits + noise
    assert torch.equal(F.one_hot(perturbed.argmax(-1), 4).float(), one_hot.expand(3, 4000, 4))
    # drawing the choice and then the perturbation given it is drawing logits + Gumbel(0, 1) noise: the noise's
    # mean is the Euler-Mascheroni constant and its std pi / sqrt(6) in every entry
    torch.testing.assert_close(noise.mean((0, 1)), torch.full((4,), 0.5772), atol=0.05, rtol=0)
    torch.testing.assert_close(noise.std((0, 1)), torch.full((4,), math.pi / math.sqrt(6)), atol=0.06, rtol=0)


def per_sample_gradients(estimator, n: int) -> torch.Tensor:
    """The gradient of (sample . w) w.r.t. fixed logits, once per draw: [n, 3]."""
    logits = torch.tensor([0.5, 0.0, -0.5]).repeat(n, 1).requires_grad_()
    (estimator(logits) * torch.tensor([1.0, -2.0, 0.5])).sum().backward()
    return logits.grad


def test_gumbel_rao_has_straight_throughs_expected_gradient_with_less_variance():
    """Rao-Blackwellization: the mean of straight-through's gradient given the one-hot, so the same expectation
    and, with 20 conditional samples, a much smaller variance (measured: 2.6 to 4.8 times smaller)."""
    torch.manual_seed(0)
    straight = per_sample_gradients(gumbel_softmax_straight_through, 20_000)
    rao = per_sample_gradients(partial(gumbel_rao, samples=20), 20_000)
    torch.testing.assert_close(rao.mean(0), straight.mean(0), atol=0.02, rtol=0)
    assert (rao.var(0) < 0.5 * straight.var(0)).all(), (rao.var(0), straight.var(0))


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_straight_through_is_the_hard_gumbel_softmax_of_its_own_noise(temperature):
    """Forward: exactly the one-hot of argmax(logits + G); backward: the gradient of softmax((logits + G) / t) at
    that noise G, as `F.gumbel_softmax(hard=True)` computes them (it draws G differently, more slowly)."""
    logits = (torch.randn(64, 5) * 2).requires_grad_()
    weights = torch.randn(64, 5)
    torch.manual_seed(3)
    noise = gumbel_noise(logits)
    torch.manual_seed(3)
    sample = gumbel_softmax_straight_through(logits, temperature)
    (sample * weights).sum().backward()
    mine, logits.grad = logits.grad, None
    perturbed = (logits + noise) / temperature
    soft = perturbed.softmax(-1)
    reference = F.one_hot(perturbed.argmax(-1), 5).float() - soft.detach() + soft
    (reference * weights).sum().backward()
    assert torch.equal(sample, F.one_hot((logits + noise).argmax(-1), 5).float())  # exactly one-hot
    torch.testing.assert_close(mine, logits.grad)


def test_gumbel_noise_follows_the_gumbel_law_and_is_finite_at_the_uniforms_ends(monkeypatch):
    torch.manual_seed(0)
    noise = gumbel_noise(torch.empty(200_000))
    # Gumbel(0, 1): mean the Euler-Mascheroni constant, std pi / sqrt(6), P(G <= 0) = exp(-1)
    assert abs(noise.mean().item() - 0.5772) < 0.01 and abs(noise.std().item() - math.pi / math.sqrt(6)) < 0.01
    assert abs((noise <= 0).float().mean().item() - math.exp(-1)) < 0.005
    ends = torch.tensor([0.0, 1.0 - 2.0 ** -24])  # what torch.rand may return at each end of [0, 1)
    monkeypatch.setattr(torch, "rand_like", lambda like: ends.clone())
    extremes = gumbel_noise(ends)
    assert extremes.isfinite().all() and extremes[0] < -4 and extremes[1] > 16


def test_exploration_samples_follow_the_softmax_and_carry_no_gradient():
    torch.manual_seed(0)
    logits = torch.tensor([1.0, 0.0, -1.0]).repeat(20_000, 1).requires_grad_()
    sample = sample_one_hot(logits)
    assert not sample.requires_grad and (sample.sum(-1) == 1).all()
    torch.testing.assert_close(sample.mean(0), logits[0].detach().softmax(-1), atol=0.015, rtol=0)


@pytest.mark.parametrize("estimator, temperature", [("straight_through_gumbel", 0.5), ("gumbel_rao", 2.0)])
def test_the_configured_estimator_and_temperature_reach_the_actors(tiny_config, estimator, temperature):
    config = dataclasses.replace(tiny_config, gradient_estimator=estimator, gumbel_temperature=temperature)
    actor = make_actors(config, [4], [ActionSpec(True, 5)])[0]
    obs = torch.randn(8, 4)
    expected = {"straight_through_gumbel": partial(gumbel_softmax_straight_through, temperature=temperature),
                "gumbel_rao": partial(gumbel_rao, samples=config.gumbel_rao_samples, temperature=temperature)}
    gradients = []
    for run in (lambda: actor.differentiable(obs)[0], lambda: expected[estimator](actor(obs))):
        actor.zero_grad()
        torch.manual_seed(4)
        run().mul(torch.arange(5.0)).sum().backward()
        gradients.append([p.grad.clone() for p in actor.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*gradients))


# --- the Config, the trainer and the command line --------------------------------------------------------------

@pytest.mark.parametrize("name, value", [("target_noise", 0.1), ("target_noise_clip", 1.0), ("policy_delay", 3)])
def test_matd3_fields_are_refused_without_matd3(name, value):
    with pytest.raises(ConfigError, match=f"^{name}: only --algorithm matd3 uses it$"):
        Config(**{name: value})
    assert getattr(Config(algorithm="matd3", **{name: value}), name) == value


@pytest.mark.parametrize("name, value", [("gradient_estimator", "gumbel_rao"), ("gumbel_temperature", 0.5),
                                         ("gumbel_rao_samples", 4)])
def test_estimator_fields_are_refused_with_continuous_actions(name, value):
    with pytest.raises(ConfigError, match=f"^{name}: a gradient estimator of discrete actions"):
        Config(continuous_actions=True, **{name: value})


def test_gumbel_rao_samples_need_gumbel_rao():
    with pytest.raises(ConfigError, match="^gumbel_rao_samples: only --gradient-estimator gumbel_rao uses it$"):
        Config(gumbel_rao_samples=4)
    assert Config(gradient_estimator="gumbel_rao", gumbel_rao_samples=4).gumbel_rao_samples == 4
    with pytest.raises(ConfigError, match="^gumbel_temperature: 0.0 is not a number in "):
        Config(gumbel_temperature=0.0)


@pytest.mark.parametrize("continuous", [False, True])
def test_a_matd3_run_resumes_bit_identically(tiny_config, tmp_path, continuous):
    """The update count travels in the checkpoint: the resumed half keeps the uninterrupted run's delay phase."""
    config = dataclasses.replace(tiny_config, algorithm="matd3", critic="independent", continuous_actions=continuous)
    uninterrupted, _ = train(config, tmp_path / "uninterrupted")
    first_half, _ = train(dataclasses.replace(config, episodes=6), tmp_path / "resumed")
    resumed, completed = resume(first_half, episodes=12)
    assert completed
    a = torch.load(uninterrupted / "checkpoints" / "checkpoint.pt", weights_only=False)["learner"]
    b = torch.load(resumed / "checkpoints" / "checkpoint.pt", weights_only=False)["learner"]
    assert a["updates"] == b["updates"] > 0
    for group in ("actors", "critics", "target_actors", "target_critics"):
        assert a[group].keys() == b[group].keys()
        assert all(torch.equal(a[group][k], b[group][k]) for k in a[group]), group


def test_the_command_line_trains_matd3_with_gumbel_rao_into_a_matd3_folder(tmp_path):
    flags = ["--num-envs", "2", "--hidden-sizes", "16,16", "--batch-size", "32", "--buffer-size", "5000",
             "--learning-starts", "64", "--update-every", "10", "--eval-interval", "20", "--eval-episodes", "2",
             "--save-interval", "20", "--device", "cpu"]
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--algorithm", "matd3", "--policy-delay", "3",
                             "--gradient-estimator", "gumbel_rao", "--gumbel-temperature", "0.5", "--episodes", "40",
                             *flags], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("simple_spread_v3__matd3-centralized__s0__")
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "20", "40"]  # every evaluation, the last at the end
    config = Config.load(run_dir / "config.json")
    assert (config.algorithm, config.policy_delay, config.gradient_estimator) == ("matd3", 3, "gumbel_rao")
