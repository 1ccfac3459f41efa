"""bench/discriminator_separation.py: a fresh discriminator's held-out view of a policy against the expert."""

import numpy as np
import pytest
import torch

from bench.discriminator_separation import episode_rewards, separation
from maddpg_gail.demonstrations import Demonstrations

AGENTS = ["agent_0", "agent_1", "agent_2"]
STEPS = 25


def episodes(action: int, count: int, seed: int) -> Demonstrations:
    """`count` spread episodes of random observations in which every agent always takes `action`."""
    rng = np.random.default_rng(seed)
    size = count * STEPS
    obs = {a: rng.normal(size=(size, 18)).astype(np.float32) for a in AGENTS}
    return Demonstrations(
        scenario="simple_spread_v3", env_kwargs={"max_cycles": STEPS, "continuous_actions": False}, agents=AGENTS,
        obs=obs, actions={a: np.full(size, action, np.int64) for a in AGENTS},
        rewards={a: np.zeros(size, np.float32) for a in AGENTS}, next_obs=obs,
        episode_id=np.repeat(np.arange(count), STEPS),
    )


def test_episode_rewards_sum_softplus_over_each_episode_then_average():
    logits = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, -1.0]])
    per_episode = torch.nn.functional.softplus(torch.tensor([[0.0, 1.0], [2.0, -1.0]]))
    per_episode[0] *= 2  # the first episode has two steps
    assert episode_rewards(logits, np.array([7, 7, 9])) == pytest.approx(float(per_episode.mean()))


@pytest.mark.parametrize("symmetries", [False, True])
def test_different_actions_are_told_apart_and_the_expert_earns_more(symmetries):
    # standing still (0) against moving (1): a difference that no turn of the plane erases
    reports = separation(episodes(0, 8, 0), episodes(1, 8, 1), episodes(0, 4, 2), episodes(1, 4, 3),
                         steps=300, grad_penalty=0.0, lr=3e-3, symmetries=symmetries)
    assert len(reports) == 8 and reports[-1]["step"] == 300
    final = reports[-1]
    assert final["expert accuracy"] > 0.95 and final["policy accuracy"] > 0.95
    assert final["expert episode reward"] > final["policy episode reward"] + 10


def test_the_same_behaviour_cannot_be_told_apart():
    reports = separation(episodes(1, 8, 0), episodes(1, 8, 1), episodes(1, 4, 2), episodes(1, 4, 3),
                         steps=300, grad_penalty=10.0, lr=3e-4)
    final = reports[-1]
    assert (final["expert accuracy"] + final["policy accuracy"]) / 2 < 0.65
    assert final["expert episode reward"] == pytest.approx(final["policy episode reward"], rel=0.1)
