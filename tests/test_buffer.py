import numpy as np
import pytest
import torch

from maddpg_gail.buffer import ReplayBuffer

OBS_DIMS, ACTION_DIMS = [3, 5], [2, 4]


def transitions(k: int, start: int, truncated_every: int = 0):
    """K transitions whose every field encodes the transition's index, so rows can be recognised."""
    ids = np.arange(start, start + k, dtype=np.float32)[:, None]
    obs = [ids + np.zeros((1, d), np.float32) + 0.1 * i for i, d in enumerate(OBS_DIMS)]
    actions = [ids + np.zeros((1, d), np.float32) + 0.2 * i for i, d in enumerate(ACTION_DIMS)]
    rewards = np.concatenate([ids, -ids], axis=1)
    next_obs = [o + 1000 for o in obs]
    terminated = (ids[:, 0] % 2).astype(np.float32)
    truncated = np.zeros(k, np.float32)
    return obs, actions, rewards, next_obs, terminated, truncated


def make_buffer(capacity: int, **kwargs) -> ReplayBuffer:
    return ReplayBuffer(capacity, OBS_DIMS, ACTION_DIMS, torch.device("cpu"), seed=0, **kwargs)


def test_sample_returns_whole_transitions_with_the_right_shapes():
    buffer = make_buffer(100, num_envs=10)
    buffer.add(*transitions(10, 0))
    batch = buffer.sample(64)
    assert [o.shape for o in batch.obs] == [(64, 3), (64, 5)]
    assert [a.shape for a in batch.actions] == [(64, 2), (64, 4)]
    assert [o.shape for o in batch.next_obs] == [(64, 3), (64, 5)]
    assert batch.rewards.shape == (64, 2) and batch.terminated.shape == (64,)
    ids = batch.rewards[:, 0]
    # every field of a sampled row belongs to the same transition
    torch.testing.assert_close(batch.obs[1][:, 0], ids + 0.1)
    torch.testing.assert_close(batch.actions[1][:, 3], ids + 0.2)
    torch.testing.assert_close(batch.rewards[:, 1], -ids)
    torch.testing.assert_close(batch.next_obs[0][:, 2], ids + 1000)
    torch.testing.assert_close(batch.terminated, ids % 2)
    torch.testing.assert_close(batch.discount, torch.full((64,), 0.95))
    assert set(ids.tolist()) <= set(range(10))


def test_wrap_around_overwrites_the_oldest_rows():
    buffer = make_buffer(8, num_envs=2)
    for step in range(5):  # 10 rows into 8: rows 8 and 9 wrap to positions 0 and 1
        buffer.add(*transitions(2, 2 * step))
    assert len(buffer) == 8 and buffer.pos == 2
    stored = buffer.storage[:, 2 * sum(OBS_DIMS) + sum(ACTION_DIMS)].tolist()  # first reward column = id
    assert stored == [8, 9, 2, 3, 4, 5, 6, 7]
    ids = set(buffer.sample(500).rewards[:, 0].tolist())
    assert ids == set(range(2, 10))


def test_capacity_is_a_whole_number_of_env_steps():
    assert make_buffer(10, num_envs=4).capacity == 8
    with pytest.raises(ValueError, match="^expected one step of 4 envs, got 3 rows$"):
        make_buffer(10, num_envs=4).add(*transitions(3, 0))


def test_state_dict_round_trip_continues_the_same_samples():
    buffer = make_buffer(8, num_envs=1, n_step=3)
    for i in range(11):
        buffer.add(*transitions(1, i))
    restored = make_buffer(8, num_envs=1, n_step=3)
    restored.load_state_dict(buffer.state_dict())
    assert len(restored) == len(buffer) and restored.pos == buffer.pos
    for a, b in zip(buffer.sample(16), restored.sample(16)):
        for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            assert torch.equal(x, y)


def episode_buffer(n_step: int, capacity: int = 40) -> ReplayBuffer:
    """Two envs; env 0 truncates after its 3rd step, env 1 never ends; reward = 10 * env + step."""
    buffer = make_buffer(capacity, num_envs=2, n_step=n_step, gamma=0.5)
    for t in range(5):
        obs = [np.full((2, d), t, np.float32) for d in OBS_DIMS]
        actions = [np.zeros((2, d), np.float32) for d in ACTION_DIMS]
        rewards = np.array([[t, t], [10 + t, 10 + t]], np.float32)
        next_obs = [o + 0.5 for o in obs]
        truncated = np.array([t == 2, False], np.float32)
        buffer.add(obs, actions, rewards, next_obs, np.zeros(2, np.float32), truncated)
    return buffer


def test_n_step_returns_stop_at_episode_ends_and_at_the_newest_row():
    batch = episode_buffer(n_step=3).sample(4000)
    rows = {(int(o), float(r)) : (float(d), float(n)) for o, r, d, n in
            zip(batch.obs[0][:, 0], batch.rewards[:, 0], batch.discount, batch.next_obs[0][:, 0])}
    # env 1 (rewards 10 + t), 3-step returns with gamma 0.5, cut by the newest step (t = 4)
    assert rows[(0, 10 + 0.5 * 11 + 0.25 * 12)] == (0.125, 2.5)
    assert rows[(2, 12 + 0.5 * 13 + 0.25 * 14)] == (0.125, 4.5)
    assert rows[(3, 13 + 0.5 * 14)] == (0.25, 4.5)
    assert rows[(4, 14)] == (0.5, 4.5)
    # env 0 (rewards t): the episode truncates after t = 2, so returns from t <= 2 stop there
    assert rows[(0, 0 + 0.5 * 1 + 0.25 * 2)] == (0.125, 2.5)
    assert rows[(1, 1 + 0.5 * 2)] == (0.25, 2.5)
    assert rows[(2, 2)] == (0.5, 2.5)
    assert rows[(3, 3 + 0.5 * 4)] == (0.25, 4.5)  # the next episode starts fresh
    assert len(rows) == 10


def test_one_step_sampling_is_the_stored_transition():
    batch = episode_buffer(n_step=1).sample(500)
    torch.testing.assert_close(batch.next_obs[0][:, 0], batch.obs[0][:, 0] + 0.5)
    torch.testing.assert_close(batch.discount, torch.full((500,), 0.5))


def test_reward_fn_replaces_stored_rewards_on_every_step_of_the_return():
    buffer = episode_buffer(n_step=3)

    def reward_fn(obs, actions):  # a "discriminator" that pays the step index t, read from obs
        assert [o.shape[1] for o in obs] == OBS_DIMS and [a.shape[1] for a in actions] == ACTION_DIMS
        return torch.stack([obs[0][:, 0], 2 * obs[0][:, 0]], dim=1)

    batch = buffer.sample(2000, reward_fn=reward_fn)
    for t, reward, other, discount in zip(batch.obs[0][:, 0].tolist(), batch.rewards[:, 0].tolist(),
                                          batch.rewards[:, 1].tolist(), batch.discount.tolist()):
        m = {0.125: 3, 0.25: 2, 0.5: 1}[discount]
        expected = sum(0.5**j * (t + j) for j in range(m))
        assert reward == pytest.approx(expected) and other == pytest.approx(2 * expected)
    one_step = episode_buffer(n_step=1).sample(100, reward_fn=reward_fn)
    torch.testing.assert_close(one_step.rewards[:, 1], 2 * one_step.obs[0][:, 0])


def test_a_checkpoint_holds_only_the_filled_rows(tmp_path):
    buffer = make_buffer(100_000, num_envs=2)
    buffer.add(*transitions(2, 0))
    torch.save(buffer.state_dict(), tmp_path / "buffer.pt")
    row_bytes = buffer.storage.shape[1] * 4
    assert (tmp_path / "buffer.pt").stat().st_size < 1000 * row_bytes  # not the 100,000 rows of capacity


def test_storage_is_allocated_at_the_first_add_or_load_only():
    buffer = make_buffer(100_000, num_envs=2)
    assert buffer.storage.numel() == 0  # `main.py bc` builds a buffer it never fills
    buffer.add(*transitions(2, 0))
    assert buffer.storage.shape[0] == 100_000
    fresh = make_buffer(100_000, num_envs=2)
    fresh.load_state_dict(buffer.state_dict())
    assert fresh.storage.shape[0] == 100_000
    torch.testing.assert_close(fresh.sample(16).obs[0], buffer.sample(16).obs[0])


@pytest.mark.parametrize("n_step", [1, 3])
def test_a_truncation_is_never_sampled_as_terminated_and_a_termination_always_is(n_step):
    """Env 0 truncates after its step 2, env 1 terminates after its step 2 (then both go on)."""
    buffer = make_buffer(40, num_envs=2, n_step=n_step, gamma=0.5)
    for t in range(5):
        obs = [np.full((2, d), t, np.float32) + np.array([[0.0], [0.5]], np.float32) for d in OBS_DIMS]
        actions = [np.zeros((2, d), np.float32) for d in ACTION_DIMS]
        ended = np.array([t == 2, False], np.float32), np.array([False, t == 2], np.float32)
        buffer.add(obs, actions, np.ones((2, 2), np.float32), [o + 1 for o in obs], ended[1], ended[0])
    batch = buffer.sample(2000)
    t, env = batch.obs[0][:, 0].floor(), (batch.obs[0][:, 0] % 1 == 0.5).float()
    # a return that reaches env 1's step 2 ends in its terminal state: rows t <= 2 (t = 2 alone for 1 step)
    reaches_the_end = t <= 2 if n_step == 3 else t == 2
    torch.testing.assert_close(batch.terminated, (env * reaches_the_end).float())
    assert set(env.tolist()) == {0.0, 1.0} and set(t.tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0}


def test_n_step_returns_on_a_wrapped_buffer_follow_each_row_to_its_newest_successor():
    """11 steps into 8 rows: rows 0-2 hold steps 8-10, rows 3-7 steps 3-7; a return from step 6 reads rows 6, 7, 0."""
    buffer = make_buffer(8, num_envs=1, n_step=3, gamma=0.5)
    for step in range(11):
        obs, actions, rewards, next_obs, _, truncated = transitions(1, step)
        buffer.add(obs, actions, rewards, next_obs, np.zeros(1, np.float32), truncated)
    batch = buffer.sample(500)
    starts = batch.obs[0][:, 0]
    assert set(starts.tolist()) == set(range(3, 11))
    for s, reward, discount, last in zip(starts.tolist(), batch.rewards[:, 0].tolist(), batch.discount.tolist(),
                                         batch.next_obs[0][:, 0].tolist()):
        m = min(3, 10 - int(s) + 1)  # cut at the newest step, 10
        assert reward == pytest.approx(sum(0.5**j * (s + j) for j in range(m)))
        assert discount == pytest.approx(0.5**m) and last == s + m - 1 + 1000


def test_the_defaults_are_one_env_one_step_returns_and_gamma_0_95():
    buffer = ReplayBuffer(10, OBS_DIMS, ACTION_DIMS, torch.device("cpu"), seed=0)
    buffer.add(*transitions(1, 0))
    buffer.add(*transitions(1, 1))
    batch = buffer.sample(50)
    torch.testing.assert_close(batch.next_obs[0][:, 0], batch.obs[0][:, 0] + 1000)  # the stored successor: 1 step
    torch.testing.assert_close(batch.discount, torch.full((50,), 0.95))


@pytest.mark.parametrize("n_agents", [1, 3])
def test_n_step_returns_for_any_number_of_agents(n_agents):
    """2-step returns, gamma 0.5, one env, episodes of 3 steps that end by termination; agent i's reward is
    (i + 1) * t at step t. Rewards and flags sit side by side at the end of a row, for any number of agents."""
    obs_dims, action_dims = [2] * n_agents, [1] * n_agents
    buffer = ReplayBuffer(20, obs_dims, action_dims, torch.device("cpu"), seed=0, n_step=2, gamma=0.5)
    for t in range(7):
        ends = np.array([t % 3 == 2], np.float32)
        buffer.add([np.full((1, 2), t, np.float32)] * n_agents, [np.zeros((1, 1), np.float32)] * n_agents,
                   np.array([[(i + 1) * t for i in range(n_agents)]], np.float32),
                   [np.full((1, 2), t + 0.5, np.float32)] * n_agents, ends, np.zeros(1, np.float32))
    batch = buffer.sample(1000)
    for t, rewards, discount, terminated, last in zip(batch.obs[0][:, 0].tolist(), batch.rewards.tolist(),
                                                      batch.discount.tolist(), batch.terminated.tolist(),
                                                      batch.next_obs[-1][:, 0].tolist()):
        m = 1 if t % 3 == 2 or t == 6 else 2  # cut by the episode's end or by the newest step
        assert rewards == pytest.approx([(i + 1) * sum(0.5**j * (t + j) for j in range(m)) for i in range(n_agents)])
        assert (discount, terminated, last) == (0.5**m, float((t + m - 1) % 3 == 2), t + m - 1 + 0.5)


def test_a_state_dict_that_does_not_fit_is_refused():
    source = make_buffer(16, num_envs=2)
    for step in range(5):
        source.add(*transitions(2, 2 * step))
    with pytest.raises(ValueError, match=r"^replay buffer rows of shape \(10, 26\) do not fit \(8, 26\)$"):
        make_buffer(8, num_envs=2).load_state_dict(source.state_dict())
    narrow = ReplayBuffer(16, [3], [2], torch.device("cpu"), seed=0, num_envs=2)
    with pytest.raises(ValueError, match=r"^replay buffer rows of shape \(10, 26\) do not fit \(16, 11\)$"):
        narrow.load_state_dict(source.state_dict())


@pytest.mark.parametrize("batch_size", [0, 300])
def test_a_reward_fn_that_gives_the_stored_rewards_samples_the_same_batch_as_none(batch_size):
    """The two paths of n-step sampling (stored rewards; rewards worked out from the steps' rows) return the same
    transitions: first step's obs and actions, the m-th step's next obs and flags, the same discounts."""
    def filled() -> ReplayBuffer:  # odd ids terminate (`transitions`): returns of 1 to 3 steps
        buffer = make_buffer(40, num_envs=4, n_step=3, gamma=0.5)
        for step in range(12):  # wraps round the 40 rows
            buffer.add(*transitions(4, 4 * step))
        return buffer

    def stored(obs, actions):  # transitions() writes each row's id into its obs and rewards (id, -id)
        return torch.stack([obs[0][:, 0], -obs[0][:, 0]], dim=1)

    expected, got = filled().sample(batch_size), filled().sample(batch_size, reward_fn=stored)
    for a, b in zip(expected, got):
        for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            assert x.shape == y.shape and torch.equal(x, y)
    if batch_size:
        assert {0.5, 0.125} <= set(expected.discount.tolist())  # 1-step returns (terminated) and 3-step ones
