"""What the learners may know of a scenario, in one registry: the actors' extra input features, where each
agent's observation holds plane vectors (for the plane's symmetries) and which entities may be relabelled.

Everything scenario-specific that training uses is registered here, built from the scenario's observation
layout (envs/spread.py for simple_spread_v3); the learner and the networks take the generic pieces it returns
(a feature module, `envs.symmetries.WorldSymmetries`) and import no scenario. Supporting a scenario is one
entry per table below.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from envs.batched import MOVE_ACTIONS
from envs.scenarios import check_full_observations
from envs.spread import (AgentLandmarkAssignment, AgentLandmarkDistances, SpreadLayout, spread_layout,
                         spread_layout_defined)
from envs.symmetries import AgentLayout, PlaneSymmetries, Relabellings, WorldSymmetries


def _spread_vectors(env_kwargs: dict[str, Any]) -> list[AgentLayout]:
    layout = SpreadLayout.of(env_kwargs)
    # every column before the others' (silent) speech is an (x, y) pair
    return [AgentLayout(layout.speech_start, True)] * layout.n


# Scenario -> each agent's AgentLayout for its env_kwargs: where its observation holds (x, y) pairs, and whether
# its actions start with the five moves.
PLANE_LAYOUTS: dict[str, Callable[[dict[str, Any]], list[AgentLayout]]] = {
    "simple_v3": lambda env_kwargs: [AgentLayout(4, True)],  # [own velocity, landmark offset]
    "simple_spread_v3": _spread_vectors,
    # the speaker sees the goal's colour and speaks; the listener: [own velocity, 3 landmark offsets, speech]
    "simple_speaker_listener_v4": lambda env_kwargs: [AgentLayout(0, False), AgentLayout(8, True)],
    # Observations of nothing but plane vectors: tag's [own velocity, own position, obstacle offsets, agent
    # offsets, good agents' velocities]; adversary's [goal offset (good agents only), landmark and agent offsets].
    "simple_tag_v3": lambda env_kwargs: (
        [AgentLayout(None, True)] * (env_kwargs.get("num_good", 1) + env_kwargs.get("num_adversaries", 3))),
    "simple_adversary_v3": lambda env_kwargs: [AgentLayout(None, True)] * (env_kwargs.get("N", 2) + 1),
}
SYMMETRIC_SCENARIOS = tuple(PLANE_LAYOUTS)

# Config.actor_inputs -> its feature module, built from the layout of the one scenario it is defined for. A
# feature module maps an observation [..., obs_dim] to [..., obs_dim + extra_dims], has `extra_dims`, and says
# with `defined_for(layout)` which of the scenario's sizes it takes.
ACTOR_FEATURES: dict[str, type[AgentLandmarkDistances]] = {"distances": AgentLandmarkDistances,
                                                           "assignment": AgentLandmarkAssignment}


def agent_layouts(scenario: str, env_kwargs: dict[str, Any]) -> list[AgentLayout]:
    """Where each agent's observation holds plane vectors, and whether its actions move it."""
    check_full_observations("plane symmetries", scenario, env_kwargs)
    if scenario not in PLANE_LAYOUTS:
        raise ValueError(f"plane symmetries are defined for {', '.join(SYMMETRIC_SCENARIOS)}, not {scenario}")
    return PLANE_LAYOUTS[scenario](env_kwargs)


def has_plane_symmetries(scenario: str, env_kwargs: dict[str, Any]) -> bool:
    """Whether `agent_layouts` knows this scenario with these options (full observations)."""
    try:
        agent_layouts(scenario, env_kwargs)
    except ValueError:
        return False
    return True


def has_actor_features(name: str, scenario: str, env_kwargs: dict[str, Any]) -> bool:
    """Whether the actor input `name` (ACTOR_FEATURES) is defined for this scenario with these options."""
    return (name in ACTOR_FEATURES and spread_layout_defined(scenario, env_kwargs)
            and ACTOR_FEATURES[name].defined_for(SpreadLayout.of(env_kwargs)))


def plane_symmetries(scenario: str, env_kwargs: dict[str, Any], obs_dims: list[int], action_dims: list[int],
                     device: Any = "cpu") -> PlaneSymmetries:
    """The symmetries of `scenario`; ValueError where its observations are not laid out as expected."""
    layouts = agent_layouts(scenario, env_kwargs)
    for layout, obs_dim, action_dim in zip(layouts, obs_dims, action_dims, strict=True):
        vector_dims = layout.vectors_in(obs_dim)
        if vector_dims > obs_dim or vector_dims % 2 or (layout.moves and action_dim != MOVE_ACTIONS):
            raise ValueError(f"plane symmetries: {scenario}'s spaces (observation {obs_dim}, "
                             f"action {action_dim}) are not the layout expected")
    return PlaneSymmetries(layouts, obs_dims, action_dims, device)


def relabellings(scenario: str, env_kwargs: dict[str, Any], obs_dims: list[int], device: Any = "cpu") -> Relabellings:
    """The relabellings of `scenario`; ValueError where it has none or its observations are not laid out as expected."""
    return Relabellings(spread_layout(scenario, env_kwargs, obs_dims, "relabellings"), device)


def world_symmetries(scenario: str, env_kwargs: dict[str, Any], obs_dims: list[int], action_dims: list[int],
                     relabel_entities: bool, device: Any = "cpu") -> WorldSymmetries:
    """The plane's symmetries of `scenario`, and with `relabel_entities` its relabellings; ValueError as they say."""
    return WorldSymmetries(plane_symmetries(scenario, env_kwargs, obs_dims, action_dims, device),
                           relabellings(scenario, env_kwargs, obs_dims, device) if relabel_entities else None)


def actor_features(name: str, scenario: str, env_kwargs: dict[str, Any], obs_dims: list[int]) -> nn.Module | None:
    """The feature module of `name` (one of Config's ACTOR_INPUTS: "observation" adds none) for this env;
    ValueError, starting with `name`, where it does not fit the env."""
    if name not in ACTOR_FEATURES:
        return None
    return ACTOR_FEATURES[name](spread_layout(scenario, env_kwargs, obs_dims, name))
