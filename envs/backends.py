"""The vector-env backends and the factory that picks one: the one module that knows them all, so the
backends depend on the interface in envs/vector.py and nothing depends back on them."""

from __future__ import annotations

import sys
from typing import Any

from envs.vector import Mpe2VectorEnv, VectorEnv

BACKENDS = ("mpe2", "batched")


def make_vector_env(scenario: str, env_kwargs: dict[str, Any], num_envs: int, backend: str = "mpe2") -> VectorEnv:
    """`backend="batched"` steps the envs as numpy arrays, identical to mpe2; where it lacks the scenario or
    one of its options, it says so on stderr and the mpe2 backend runs instead."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown env backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if backend == "batched":
        # imported here: envs.batched loads torch (for its state_dict), and the CLI checks its arguments first
        from envs.batched import BatchedVectorEnv, Unsupported

        try:
            return BatchedVectorEnv(scenario, env_kwargs, num_envs)
        except Unsupported as missing:
            print(f"env backend 'batched' does not implement {missing}; using 'mpe2'", file=sys.stderr)
    return Mpe2VectorEnv(scenario, env_kwargs, num_envs)
