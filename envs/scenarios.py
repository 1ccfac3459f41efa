"""The mpe2 scenarios the toolkit trains on, and how to build one of them."""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from gymnasium import spaces

# pygame picks a video driver when it is first imported; rendering to rgb_array needs none.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

SCENARIOS = (
    "simple_v3",
    "simple_spread_v3",
    "simple_speaker_listener_v4",
    "simple_reference_v3",
    "simple_tag_v3",
    "simple_adversary_v3",
    "simple_push_v3",
    "simple_crypto_v3",
    "simple_world_comm_v3",
)

# Keyword arguments the toolkit sets itself; users pass them through their own flags.
RESERVED_ENV_KWARGS = ("render_mode",)


def scenario_module(scenario: str) -> ModuleType:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    return importlib.import_module(f"mpe2.{scenario}")


def mpe2_defaults(scenario: str) -> dict[str, Any]:
    """The keyword arguments `parallel_env` of this scenario accepts (e.g. N, local_ratio) with their defaults,
    read off its mpe2 `raw_env`, so that both backends share one source of them."""
    parameters = inspect.signature(scenario_module(scenario).raw_env.__init__).parameters
    return {name: p.default for name, p in parameters.items() if name != "self" and name not in RESERVED_ENV_KWARGS}


def accepted_env_kwargs(scenario: str) -> tuple[str, ...]:
    """The keyword arguments `parallel_env` of this scenario accepts (e.g. N, local_ratio)."""
    return tuple(mpe2_defaults(scenario))


def validate_env_kwargs(scenario: str, env_kwargs: dict[str, Any]) -> None:
    accepted = accepted_env_kwargs(scenario)
    for key in env_kwargs:
        if key not in accepted:
            raise ValueError(
                f"{scenario} does not accept env kwarg {key!r}; it accepts: {', '.join(accepted)}"
            )


def make_parallel_env(scenario: str, env_kwargs: dict[str, Any], render_mode: str | None = None):
    """A plain mpe2 PettingZoo ParallelEnv: `mpe2.<scenario>.parallel_env(**env_kwargs)`."""
    validate_env_kwargs(scenario, env_kwargs)
    return scenario_module(scenario).parallel_env(**env_kwargs, render_mode=render_mode)


@dataclass(frozen=True)
class EnvSpaces:
    """What an env shows its agents, in its fixed agent order (the order of the critic's inputs)."""

    agents: list[str]
    observation_spaces: dict[str, spaces.Box]
    action_spaces: dict[str, spaces.Discrete | spaces.Box]

    @property
    def obs_dims(self) -> list[int]:
        return [int(self.observation_spaces[a].shape[0]) for a in self.agents]


def env_spaces(scenario: str, env_kwargs: dict[str, Any]) -> EnvSpaces:
    """The agents and spaces of `scenario` with `env_kwargs`, from an env built for that alone. A scenario's
    constructor raises any type for an option it cannot take (TypeError, AssertionError...): callers that
    report it catch Exception."""
    env = make_parallel_env(scenario, env_kwargs)
    try:
        agents = list(env.possible_agents)
        return EnvSpaces(agents, {a: env.observation_space(a) for a in agents},
                         {a: env.action_space(a) for a in agents})
    finally:
        env.close()


def check_full_observations(what: str, scenario: str, env_kwargs: dict[str, Any]) -> None:
    """A ValueError, starting with `what` (the feature that reads the observations), where the
    `num_*_neighbors` options make them list only the nearest agents and landmarks."""
    neighbours = {k: v for k, v in env_kwargs.items() if k.endswith("_neighbors") and v is not None}
    if neighbours:
        raise ValueError(f"{what}: {scenario} with {neighbours} is not supported "
                         f"(its observations list only the nearest agents and landmarks)")


def teams(scenario: str, env_kwargs: dict[str, Any]) -> dict[str, list[str]]:
    """The two teams of a competitive scenario, {"adversaries": [...], "good": [...]} (mpe2 marks its
    adversaries' bodies `adversary`); {} where every agent plays on one side, e.g. simple_spread_v3."""
    env = make_parallel_env(scenario, env_kwargs)
    sides = {"adversaries": [], "good": []}
    for body in env.unwrapped.world.agents:
        sides["adversaries" if getattr(body, "adversary", False) else "good"].append(body.name)
    env.close()
    return sides if all(sides.values()) else {}
