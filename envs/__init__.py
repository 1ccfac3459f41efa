"""Environment construction and parallel stepping."""

from envs.backends import BACKENDS, make_vector_env
from envs.scenarios import (SCENARIOS, EnvSpaces, accepted_env_kwargs, env_spaces, make_parallel_env, teams,
                            validate_env_kwargs)
from envs.vector import Mpe2VectorEnv, VectorEnv, VectorStep

__all__ = [
    "BACKENDS",
    "SCENARIOS",
    "EnvSpaces",
    "Mpe2VectorEnv",
    "VectorEnv",
    "VectorStep",
    "accepted_env_kwargs",
    "env_spaces",
    "make_parallel_env",
    "make_vector_env",
    "teams",
    "validate_env_kwargs",
]
