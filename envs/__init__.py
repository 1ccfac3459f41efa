"""Environment construction and parallel stepping."""

from envs.scenarios import SCENARIOS, accepted_env_kwargs, make_parallel_env, teams, validate_env_kwargs
from envs.vector import BACKENDS, Mpe2VectorEnv, VectorEnv, VectorStep, make_vector_env

__all__ = [
    "BACKENDS",
    "SCENARIOS",
    "Mpe2VectorEnv",
    "VectorEnv",
    "VectorStep",
    "accepted_env_kwargs",
    "make_parallel_env",
    "make_vector_env",
    "teams",
    "validate_env_kwargs",
]
