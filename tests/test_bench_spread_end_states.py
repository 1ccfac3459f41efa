"""bench/spread_end_states.py: coverage figures read from the last observations of recorded episodes."""

import numpy as np
import pytest

from bench.spread_end_states import end_states
from maddpg_gail.demonstrations import Demonstrations

AGENTS = ["agent_0", "agent_1", "agent_2"]
STEPS = 25


def spread_episodes(final_landmarks: list[np.ndarray]) -> Demonstrations:
    """Episodes of 25 steps whose last next-observations hold the given [agent, landmark, 2] offsets."""
    episodes = len(final_landmarks)
    obs = {a: np.zeros((episodes * STEPS, 18), np.float32) for a in AGENTS}
    next_obs = {a: np.zeros((episodes * STEPS, 18), np.float32) for a in AGENTS}
    for a in AGENTS:
        step = np.arange(episodes * STEPS) % STEPS
        obs[a][:, :2] = np.where((step >= STEPS - 10)[:, None], [0.3, 0.4], [3.0, 4.0])  # speed 0.5 late, 5 before
    for e, offsets in enumerate(final_landmarks):
        for i, a in enumerate(AGENTS):
            next_obs[a][(e + 1) * STEPS - 1, 4:10] = offsets[i].ravel()
    return Demonstrations(
        scenario="simple_spread_v3", env_kwargs={}, agents=AGENTS, obs=obs,
        actions={a: np.zeros(episodes * STEPS, np.int64) for a in AGENTS},
        rewards={a: np.full(episodes * STEPS, -1.0, np.float32) for a in AGENTS},
        next_obs=next_obs, episode_id=np.repeat(np.arange(episodes), STEPS),
    )


def test_end_states_of_a_covered_and_a_shared_episode():
    far = [5.0, 5.0]
    covered = np.array([[[0.1, 0], far, far], [far, [0, 0.1], far], [far, far, [-0.1, 0]]])
    # agents 0 and 1 end nearest landmark 0; landmark 1's nearest agent is agent 2, 1.0 away
    shared = np.array([[[0.2, 0], [1.5, 0], far], [[0, 0.2], [1.5, 0], far], [far, [1.0, 0], [0.3, 0]]])
    figures = end_states(spread_episodes([covered, shared]))
    assert figures["agent -> landmark"] == pytest.approx((0.1 * 3 + 0.2 + 0.2 + 0.3) / 6)
    assert figures["landmark -> agent"] == pytest.approx((0.1 + (0.2 + 1.0 + 0.3) / 3) / 2)
    assert figures["shared landmark"] == pytest.approx(0.5)
    assert figures["late speed"] == pytest.approx(0.5)  # the last 10 steps only
    assert figures["return per agent"] == pytest.approx(-25.0)
