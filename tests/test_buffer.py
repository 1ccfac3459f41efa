import numpy as np
import torch

from maddpg_gail.buffer import ReplayBuffer

OBS_DIMS, ACTION_DIMS = [3, 5], [2, 4]


def transitions(k: int, start: int):
    """K transitions whose every field encodes the transition's index, so rows can be recognised."""
    ids = np.arange(start, start + k, dtype=np.float32)[:, None]
    obs = [ids + np.zeros((1, d), np.float32) + 0.1 * i for i, d in enumerate(OBS_DIMS)]
    actions = [ids + np.zeros((1, d), np.float32) + 0.2 * i for i, d in enumerate(ACTION_DIMS)]
    rewards = np.concatenate([ids, -ids], axis=1)
    next_obs = [o + 1000 for o in obs]
    terminated = (ids[:, 0] % 2).astype(np.float32)
    return obs, actions, rewards, next_obs, terminated


def make_buffer(capacity: int) -> ReplayBuffer:
    return ReplayBuffer(capacity, OBS_DIMS, ACTION_DIMS, torch.device("cpu"), seed=0)


def test_sample_returns_whole_transitions_with_the_right_shapes():
    buffer = make_buffer(100)
    buffer.add(*transitions(10, 0))
    batch = buffer.sample(64)
    assert [o.shape for o in batch.obs] == [(64, 3), (64, 5)]
    assert [a.shape for a in batch.actions] == [(64, 2), (64, 4)]
    assert batch.rewards.shape == (64, 2) and batch.terminated.shape == (64,)
    ids = batch.rewards[:, 0]
    # every field of a sampled row belongs to the same transition
    torch.testing.assert_close(batch.obs[1][:, 0], ids + 0.1)
    torch.testing.assert_close(batch.actions[1][:, 3], ids + 0.2)
    torch.testing.assert_close(batch.rewards[:, 1], -ids)
    torch.testing.assert_close(batch.next_obs[0][:, 2], ids + 1000)
    torch.testing.assert_close(batch.terminated, ids % 2)
    assert set(ids.tolist()) <= set(range(10))


def test_wrap_around_overwrites_the_oldest_rows():
    buffer = make_buffer(8)
    buffer.add(*transitions(5, 0))
    buffer.add(*transitions(5, 5))  # rows 8 and 9 wrap to positions 0 and 1
    assert len(buffer) == 8 and buffer.pos == 2
    stored = buffer.storage[:, sum(OBS_DIMS) + sum(ACTION_DIMS)].tolist()  # first reward column = id
    assert stored == [8, 9, 2, 3, 4, 5, 6, 7]
    ids = set(buffer.sample(500).rewards[:, 0].tolist())
    assert ids == set(range(2, 10))


def test_state_dict_round_trip_continues_the_same_samples():
    buffer = make_buffer(8)
    buffer.add(*transitions(11, 0))
    restored = make_buffer(8)
    restored.load_state_dict(buffer.state_dict())
    assert len(restored) == len(buffer) and restored.pos == buffer.pos
    for a, b in zip(buffer.sample(16), restored.sample(16)):
        for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            assert torch.equal(x, y)
