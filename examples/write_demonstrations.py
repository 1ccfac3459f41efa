"""Write demonstrations in maddpg-gail's dataset format (version 1) from any rollout loop.

Standalone on purpose: `write_demonstrations` needs numpy only and the example rollouts below mpe2 only; nothing
of maddpg-gail is imported, so a tool outside the project can copy this file as it is.

    python examples/write_demonstrations.py demos/greedy.npz --episodes 100 [--seed 0]

records greedy-to-the-nearest-landmark episodes of simple_spread_v3; `python main.py --reward gail --demos
demos/greedy.npz` or `python main.py bc --demos demos/greedy.npz` then learns from them.
"""

import argparse
import json

import numpy as np


def write_demonstrations(path, scenario, env_kwargs, episodes, source="a standalone script"):
    """Write `episodes` to `path` (.npz). Each episode is {"obs": {agent: T + 1 observations, from reset to the
    last step's}, "actions": {agent: T actions as the env took them: ints (Discrete) or floats in [0, 1] (Box)},
    "rewards": {agent: T rewards}}, agents in the env's order (`env.possible_agents`). `env_kwargs` are those of
    `mpe2.<scenario>.parallel_env`; `source` is any JSON value saying what made the data."""
    agents = list(episodes[0]["obs"])
    arrays = {"episode_id": np.concatenate([np.full(len(e["rewards"][agents[0]]), i, dtype=np.int64)
                                            for i, e in enumerate(episodes)])}
    for agent in agents:
        obs = [np.asarray(e["obs"][agent], dtype=np.float32) for e in episodes]
        arrays[f"obs/{agent}"] = np.concatenate([o[:-1] for o in obs])
        arrays[f"next_obs/{agent}"] = np.concatenate([o[1:] for o in obs])  # the true successor, also the last one
        actions = np.concatenate([np.asarray(e["actions"][agent]) for e in episodes])
        arrays[f"act/{agent}"] = actions.astype(np.int64 if actions.dtype.kind in "iu" else np.float32)
        arrays[f"rew/{agent}"] = np.concatenate([np.asarray(e["rewards"][agent], dtype=np.float32) for e in episodes])
    meta = {"format_version": 1, "scenario": scenario, "env_kwargs": env_kwargs, "agents": agents, "source": source}
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as file:  # a file, not a name: np.savez would add ".npz" to a name without it
        np.savez(file, **arrays)  # no "sha256" array: the loader checks a digest only where a file records one


def greedy_to_nearest_landmark(obs):
    """A simple_spread_v3 agent's discrete action from its own observation: own velocity (2), own position (2),
    each landmark's position relative to it (2 each), then the other agents' (6 * N values in all). It heads for
    the nearest landmark, braking by its velocity, and stays once there. Actions: 0 stay, 1 -x, 2 +x, 3 -y, 4 +y."""
    landmarks = obs[4:4 + 2 * (len(obs) // 6)].reshape(-1, 2)
    target = landmarks[np.argmin(np.linalg.norm(landmarks, axis=1))] - 0.5 * obs[0:2]
    if np.abs(target).max() < 0.05:
        return 0
    axis = int(np.argmax(np.abs(target)))
    return 1 + 2 * axis + int(target[axis] > 0)


def record(episodes, seed, env_kwargs):
    """`episodes` episodes of simple_spread_v3 (seeds seed, seed + 1, ...) as `write_demonstrations` takes them."""
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(**env_kwargs)
    recorded = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        steps = {"obs": {a: [obs[a]] for a in env.possible_agents}, "actions": {a: [] for a in env.possible_agents},
                 "rewards": {a: [] for a in env.possible_agents}}
        while env.agents:  # mpe2 empties it when the episode ends
            actions = {a: greedy_to_nearest_landmark(obs[a]) for a in env.agents}
            obs, rewards, _, _, _ = env.step(actions)
            for a in actions:
                steps["obs"][a].append(obs[a])
                steps["actions"][a].append(actions[a])
                steps["rewards"][a].append(rewards[a])
        recorded.append(steps)
    env.close()
    return recorded


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Record greedy simple_spread_v3 episodes as a demonstrations file.")
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="the first episode's seed; the next ones count up")
    args = parser.parse_args()
    env_kwargs = {"N": 3, "max_cycles": 25, "continuous_actions": False}
    episodes = record(args.episodes, args.seed, env_kwargs)
    write_demonstrations(args.out, "simple_spread_v3", env_kwargs, episodes,
                         source=f"examples/write_demonstrations.py: greedy to the nearest landmark, "
                                f"{args.episodes} episodes from seed {args.seed}")
    returns = [sum(sum(e["rewards"][a]) for a in e["rewards"]) for e in episodes]
    print(f"{args.out}: {len(episodes)} episodes, mean return summed over agents {np.mean(returns):.2f}")
