"""Experts that read the mpe2 world (global information) and write their episodes as demonstrations.

    python bench/world_experts.py --scenario simple_spread_v3 --episodes 100 --seed 0 --out spread.npz
    python bench/world_experts.py --scenario simple_v3 --continuous-actions --eval-seeds --episodes 200 \\
        --seed 123 --out simple.npz

Written apart from the project on purpose, as an expert from outside would be: this file imports the standard
library, numpy, scipy and mpe2 only, acts from `env.unwrapped.world` (positions, velocities, goals, masses) rather
than from observations, and writes its file through examples/write_demonstrations.py, loaded by its path. The
recorded observations and actions are those the env gave and took, as any imitation learner sees them.

Every moving agent is steered by one planner: it models mpe2's physics from the world's own fields (dt, damping,
mass, the action's gain) and picks, among the actions the space offers, the first of the two-action sequences
whose predicted positions over the next HORIZON steps (coasting after the second action) score best on the
scenario's own reward term. The scenarios differ only in the goal each agent is given:

- simple_v3: the landmark;
- simple_spread_v3: the landmarks split among the agents by least total distance (re-solved every step), and a
  penalty for coming closer to another agent than the two bodies' sizes;
- simple_speaker_listener_v4: the speaker says the index of the listener's goal landmark (one-hot with
  continuous actions) and the listener drives to that landmark, read from the world;
- simple_reference_v3: each agent says the index of the landmark its partner is to reach (its own goal_b) and
  drives to the landmark its partner's goal_b names, read from the world;
- simple_adversary_v3: the good agent nearest the target goes to it, the others to the other landmarks (so the
  adversary cannot tell which is the target); the adversary drives to the landmark some good agent is nearest.

Episodes start from mpe2's `reset(seed=...)` with seeds K, K + 1, ..., or with --eval-seeds those that
`main.py evaluate --seed K --episodes N` (and `collect`) play, so that an expert can be scored on exactly the
episodes a trained policy is.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

WRITER = Path(__file__).resolve().parents[1] / "examples" / "write_demonstrations.py"
SCENARIOS = ("simple_v3", "simple_spread_v3", "simple_speaker_listener_v4", "simple_reference_v3",
             "simple_adversary_v3")

HORIZON = 4  # predicted steps scored per plan; 3 to 10 score within 1 of each other on spread, 4 best
COLLISION_COST = 0.7  # simple_spread_v3: a predicted contact, in units of distance to the goal per step
# mpe2's discrete movement actions: 0 stays, 1 -x, 2 +x, 3 -y, 4 +y (simple_env.py, _set_action).
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=float)
# Continuous candidates: every force on a grid of fifths of full force, diagonals included.
GRID = np.array([[x, y] for x in np.linspace(-1, 1, 5) for y in np.linspace(-1, 1, 5)])


def eval_seeds(seed: int, episodes: int) -> list[int]:
    """The reset seeds of the episodes `main.py evaluate --seed SEED --episodes N` plays: the rule of
    envs/rollout.py `episode_seeds` (envs/vector.py `env_seeds`), restated here as this file imports nothing of
    the project."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(episodes)]


@dataclass
class Body:
    """What the planner needs of one agent: its state and mpe2's constants for it."""

    position: np.ndarray
    velocity: np.ndarray
    gain: float  # force of a full action: the agent's accel, else mpe2's sensitivity 5
    mass: float
    size: float


def body(agent: Any) -> Body:
    return Body(np.array(agent.state.p_pos, dtype=float), np.array(agent.state.p_vel, dtype=float),
                5.0 if agent.accel is None else float(agent.accel), float(agent.mass), float(agent.size))


def predict(world: Any, agent: Body, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Positions [sequences, HORIZON, 2] of `agent` after each of the next HORIZON steps when it applies the
    forces `first` [sequences, 2] now, `second` next step and none after. As mpe2 integrates (core.py,
    integrate_state): the position moves by the old velocity, then the velocity is damped and the force added."""
    position = np.broadcast_to(agent.position, first.shape).copy()
    velocity = np.broadcast_to(agent.velocity, first.shape).copy()
    positions = []
    for step in range(HORIZON):
        force = first if step == 0 else second if step == 1 else 0.0
        position = position + velocity * world.dt
        velocity = velocity * (1 - world.damping) + force / agent.mass * world.dt
        positions.append(position)
    return np.stack(positions, axis=1)


def coasting(world: Any, agent: Body) -> np.ndarray:
    """Positions [HORIZON, 2] of an agent that applies no force from now on."""
    none = np.zeros((1, 2))
    return predict(world, agent, none, none)[0]


def candidates(world: Any, agent: Body, goal: np.ndarray, continuous: bool) -> np.ndarray:
    """The forces [candidates, 2] the planner chooses among: the discrete moves, or the continuous grid plus the
    force that stops the agent on its goal (what holds it there once it arrives), within the action's bounds."""
    if not continuous:
        return agent.gain * MOVES
    # coasting from velocity v goes v * dt / damping further; one step's force f adds f * dt / mass to v
    drift = agent.position + agent.velocity * world.dt + (1 - world.damping) * agent.velocity * world.dt / world.damping
    stop = (goal - drift) * agent.mass * world.damping / world.dt ** 2
    return np.concatenate([agent.gain * GRID, np.clip(stop, -agent.gain, agent.gain)[None]])


def plan(world: Any, agent: Body, goal: np.ndarray, continuous: bool, squared: bool,
         others: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The force now of the best two-force sequence: least summed distance (or squared distance) to the goal over
    the predicted steps, plus COLLISION_COST for each step it would touch one of `others` (their coasting
    positions [HORIZON, 2]). The first step is left out: the action taken now moves the agent only from the step
    after it on."""
    forces = candidates(world, agent, goal, continuous)
    first, second = np.repeat(forces, len(forces), axis=0), np.tile(forces, (len(forces), 1))
    positions = predict(world, agent, first, second)[:, 1:]
    distance = np.linalg.norm(positions - goal, axis=-1)
    cost = (distance ** 2 if squared else distance).sum(axis=1)
    for other in others:  # bodies of one size: spread's agents
        cost = cost + COLLISION_COST * (np.linalg.norm(positions - other[1:], axis=-1) < 2 * agent.size).sum(axis=1)
    return first[int(np.argmin(cost))]


def move_action(force: np.ndarray, gain: float, continuous: bool) -> int | np.ndarray:
    """A planned force as mpe2's movement action: the discrete move it is, or Box(0, 1)^5 [noop, -x, +x, -y, +y]
    with u_x = a[2] - a[1] and u_y = a[4] - a[3], times the gain."""
    u = force / gain
    if not continuous:
        return int(np.flatnonzero((np.abs(MOVES - u) < 1e-9).all(axis=1))[0])
    action = np.zeros(5, dtype=np.float32)
    action[[2, 4]] = np.clip(u, 0.0, 1.0)
    action[[1, 3]] = np.clip(-u, 0.0, 1.0)
    return action


def drive(world: Any, agent: Any, goal: np.ndarray, continuous: bool, squared: bool,
          others: Sequence[np.ndarray] = ()) -> int | np.ndarray:
    me = body(agent)
    return move_action(plan(world, me, goal, continuous, squared, others), me.gain, continuous)


def simple(world: Any, continuous: bool) -> dict[str, Any]:
    """simple_v3: its reward is minus the squared distance to landmark 0."""
    agent = world.agents[0]
    return {agent.name: drive(world, agent, world.landmarks[0].state.p_pos, continuous, squared=True)}


def spread(world: Any, continuous: bool) -> dict[str, Any]:
    """simple_spread_v3: the team is rewarded by minus each landmark's distance to its nearest agent and each
    agent is penalized per contact: cover the landmarks one an agent, keep off the others."""
    agents, landmarks = world.agents, [lm.state.p_pos for lm in world.landmarks]
    cost = np.array([[np.linalg.norm(a.state.p_pos - lm) for lm in landmarks] for a in agents])
    rows, cols = linear_sum_assignment(cost)
    paths = [coasting(world, body(a)) for a in agents]
    return {agents[i].name: drive(world, agents[i], landmarks[j], continuous, squared=False,
                                  others=[p for k, p in enumerate(paths) if k != i])
            for i, j in zip(rows, cols)}


def speaker_listener(world: Any, continuous: bool) -> dict[str, Any]:
    """simple_speaker_listener_v4: the speaker (immobile) knows the goal, the listener's reward is minus its squared
    distance to it. The speaker's action is its utterance: the index of a landmark (Discrete(3)), or the vector
    its state.c becomes (Box(0, 1)^3); mpe2 hands the listener the one-hot of that index."""
    speaker, listener = world.agents
    target = world.landmarks.index(speaker.goal_b)
    said = target if not continuous else np.eye(len(world.landmarks), dtype=np.float32)[target]
    return {speaker.name: said,
            listener.name: drive(world, listener, speaker.goal_b.state.p_pos, continuous, squared=True)}


def reference(world: Any, continuous: bool) -> dict[str, Any]:
    """simple_reference_v3: an agent is rewarded by minus its partner's distance to the landmark it alone knows
    (goal_b, whose color it observes), so each says that landmark and goes where its partner's goal_b is. An
    action moves and says at once: Discrete(5 * 10) as move + 5 * word, or Box(0, 1)^(5 + 10) as [move, word]."""
    actions = {}
    for agent in world.agents:
        move = drive(world, agent, agent_partner(world, agent).goal_b.state.p_pos, continuous, squared=False)
        word = world.landmarks.index(agent.goal_b)
        actions[agent.name] = (move + 5 * word if not continuous
                               else np.concatenate([move, np.eye(world.dim_c, dtype=np.float32)[word]]))
    return actions


def agent_partner(world: Any, agent: Any) -> Any:
    """simple_reference_v3's other agent: the one whose goal_a (the agent it wants at its landmark) this is."""
    return next(other for other in world.agents if other is not agent and other.goal_a is agent)


def adversary(world: Any, continuous: bool) -> dict[str, Any]:
    """simple_adversary_v3: good agents earn minus the distance of the nearest of them to the target plus the
    adversary's distance to it; the adversary, which is not told the target, earns minus its distance to it."""
    good = [a for a in world.agents if not a.adversary]
    landmarks = [lm.state.p_pos for lm in world.landmarks]
    target = world.landmarks.index(good[0].goal_a)
    distance = np.array([[np.linalg.norm(a.state.p_pos - lm) for lm in landmarks] for a in good])
    goals = {int(np.argmin(distance[:, target])): target}  # the nearest to the target takes it
    rest = [i for i in range(len(good)) if i not in goals]
    decoys = [j for j in range(len(landmarks)) if j != target]
    rows, cols = linear_sum_assignment(distance[np.ix_(rest, decoys)])
    goals.update({rest[r]: decoys[c] for r, c in zip(rows, cols)})
    actions = {good[i].name: drive(world, good[i], landmarks[j], continuous, squared=False) for i, j in goals.items()}
    guess = int(np.argmin(distance.min(axis=0)))  # the landmark a good agent is nearest
    for agent in world.agents:
        if agent.adversary:
            actions[agent.name] = drive(world, agent, landmarks[guess], continuous, squared=False)
    return actions


EXPERTS: dict[str, Callable[[Any, bool], dict[str, Any]]] = {
    "simple_v3": simple, "simple_spread_v3": spread, "simple_speaker_listener_v4": speaker_listener,
    "simple_reference_v3": reference, "simple_adversary_v3": adversary,
}


def record(scenario: str, env_kwargs: dict[str, Any], seeds: list[int]) -> list[dict[str, dict[str, list]]]:
    """One episode per reset seed, as `write_demonstrations` takes them: the observations mpe2 gave, the actions
    the expert took, the rewards mpe2 paid."""
    env = importlib.import_module(f"mpe2.{scenario}").parallel_env(**env_kwargs)
    expert, continuous = EXPERTS[scenario], bool(env_kwargs.get("continuous_actions", False))
    episodes = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        steps = {key: {a: [] for a in env.possible_agents} for key in ("obs", "actions", "rewards")}
        for a in env.possible_agents:
            steps["obs"][a].append(obs[a])
        while env.agents:  # mpe2 empties it when the episode ends
            actions = expert(env.unwrapped.world, continuous)
            obs, rewards, _, _, _ = env.step(actions)
            for a in env.possible_agents:
                steps["obs"][a].append(obs[a])
                steps["actions"][a].append(actions[a])
                steps["rewards"][a].append(rewards[a])
        episodes.append(steps)
    env.close()
    return episodes


def team_returns(episodes: list[dict[str, dict[str, list]]]) -> dict[str, float]:
    """Mean return summed over all agents ("all") and, where some are adversaries, over each team."""
    agents = list(episodes[0]["rewards"])
    returns = np.array([[sum(e["rewards"][a]) for a in agents] for e in episodes])
    teams = {"all": agents}
    adversaries = [a for a in agents if a.startswith("adversary")]
    if adversaries:
        teams.update(adversaries=adversaries, good=[a for a in agents if a not in adversaries])
    return {team: float(returns[:, [agents.index(a) for a in members]].sum(axis=1).mean())
            for team, members in teams.items()}


def load_writer() -> Callable[..., None]:
    """examples/write_demonstrations.py's `write_demonstrations`, loaded by path: nothing of the package is
    imported."""
    spec = importlib.util.spec_from_file_location("write_demonstrations", WRITER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_demonstrations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=SCENARIOS, required=True)
    parser.add_argument("--continuous-actions", action="store_true")
    parser.add_argument("--max-cycles", type=int, default=25)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="the first episode's reset seed; the next count up")
    parser.add_argument("--eval-seeds", action="store_true",
                        help="play the episodes `main.py evaluate --seed SEED --episodes N` (and collect) play")
    parser.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    args = parser.parse_args()
    env_kwargs = {"max_cycles": args.max_cycles, "continuous_actions": args.continuous_actions}
    seeds = (eval_seeds(args.seed, args.episodes) if args.eval_seeds
             else list(range(args.seed, args.seed + args.episodes)))
    episodes = record(args.scenario, env_kwargs, seeds)
    rule = "the evaluation rule" if args.eval_seeds else "consecutive"
    load_writer()(args.out, args.scenario, env_kwargs, episodes,
                  source={"expert": "bench/world_experts.py", "scenario": args.scenario, "seed": args.seed,
                          "seeds": rule, "episodes": args.episodes})
    means = team_returns(episodes)
    teams = "".join(f", {team} {value:.2f}" for team, value in means.items() if team != "all")
    print(f"{args.out}: {len(episodes)} episodes, mean return summed over agents {means['all']:.2f}{teams}")


if __name__ == "__main__":
    main()
