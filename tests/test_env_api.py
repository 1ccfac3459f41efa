"""Every scenario the CLI accepts is a well-behaved, deterministic PettingZoo env, in every backend."""

import warnings

import numpy as np
import pytest
from gymnasium import spaces

from envs import SCENARIOS, make_parallel_env, make_vector_env

with warnings.catch_warnings():
    # pettingzoo.test imports every env family through pettingzoo's deprecated import path. pytest.ini
    # filters that warning too, but pytest's own `-W error` outranks ini filters.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pettingzoo.test import parallel_api_test

NUM_ENVS = 2
MAX_CYCLES = 25


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_plain_mpe2_env_passes_the_pettingzoo_parallel_api_test(scenario, continuous):
    parallel_api_test(make_parallel_env(scenario, {"continuous_actions": continuous}), num_cycles=MAX_CYCLES)


def random_actions(action_spaces: dict, rng: np.random.Generator, num_envs: int) -> dict[str, np.ndarray]:
    """One action per env and agent, drawn from `rng` only (a space's own sampler has its own seed)."""
    actions = {}
    for agent, space in action_spaces.items():
        if isinstance(space, spaces.Discrete):
            actions[agent] = rng.integers(space.n, size=num_envs)
        else:
            actions[agent] = rng.random((num_envs, *space.shape), dtype=np.float32)
    return actions


def vector_episode(scenario: str, continuous: bool, backend: str, seed: int) -> list:
    """Everything a whole episode of K envs returns, with actions drawn from a generator seeded alike."""
    env = make_vector_env(scenario, {"max_cycles": MAX_CYCLES, "continuous_actions": continuous}, NUM_ENVS, backend)
    rng = np.random.default_rng(1234)
    record = [env.reset(seed)]
    for _ in range(MAX_CYCLES):
        record.append(env.step(random_actions(env.action_spaces, rng, NUM_ENVS)))
    env.close()
    assert record[-1].truncated.all() and not any(step.truncated.any() for step in record[1:-1])
    return record


def plain_episode(scenario: str, continuous: bool, seed: int) -> list:
    env = make_parallel_env(scenario, {"max_cycles": MAX_CYCLES, "continuous_actions": continuous})
    rng = np.random.default_rng(1234)
    record = [env.reset(seed=seed)]
    while env.agents:
        drawn = random_actions({a: env.action_space(a) for a in env.agents}, rng, 1)
        actions = {a: int(v[0]) if v.ndim == 1 else v[0] for a, v in drawn.items()}
        record.append(env.step(actions))
    env.close()
    assert len(record) == MAX_CYCLES + 1
    return record


def assert_identical(a, b, where: str = "") -> None:
    """Exact equality of nested tuples, dicts and arrays: bit-for-bit, not approximately."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert np.array_equal(a, b), f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize("backend", ["plain", "mpe2", "batched"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_seed_and_actions_give_the_same_whole_episode(scenario, backend, continuous):
    if backend == "plain":
        first, second = plain_episode(scenario, continuous, 7), plain_episode(scenario, continuous, 7)
        other_seed = plain_episode(scenario, continuous, 8)
        first_observation, other_first_observation = first[0][0], other_seed[0][0]
    else:
        first, second = (vector_episode(scenario, continuous, backend, 7) for _ in range(2))
        other_seed = vector_episode(scenario, continuous, backend, 8)
        first_observation, other_first_observation = first[0], other_seed[0]
    # observations, rewards, terminations, truncations (and infos) of every step
    assert_identical(first, second)
    # ... and the seed is what fixes them: another seed starts elsewhere
    assert any(not np.array_equal(first_observation[a], other_first_observation[a]) for a in first_observation)
