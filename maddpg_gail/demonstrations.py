"""Expert demonstrations: transitions of whole episodes, collected from a policy and kept in one .npz file.

The file holds, for T transitions and each agent (any tool may write it; `load_demonstrations` checks it all):

    obs/<agent>       float32 [T, obs_dim]
    act/<agent>       int64 [T] (Discrete) or float32 [T, act_dim] in [0, 1] (Box)
    rew/<agent>       float32 [T]
    next_obs/<agent>  float32 [T, obs_dim]   the true successor, also where an episode ends
    episode_id        int64 [T], non-decreasing: each episode's transitions are contiguous
    meta              JSON string (0-d unicode array): format_version, scenario, env_kwargs, agents, source (any
                      JSON value, optional), and any other keys a writer wants (kept, ignored by training)
    sha256            optional 0-d string: `arrays_digest` of all the others; checked where present
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Protocol

import numpy as np
import torch
from gymnasium import spaces

from envs import SCENARIOS, EnvSpaces, env_spaces
from envs.rollout import MAX_PARALLEL, episode_seeds, rollout
from envs.scenarios import mpe2_defaults
from maddpg_gail.files import atomic_path
from maddpg_gail.networks import ActionSpec

FORMAT_VERSION = 1
PREFIXES = ("obs", "act", "rew", "next_obs")
REQUIRED_META = ("format_version", "scenario", "env_kwargs", "agents")
FORMAT_META = (*REQUIRED_META, "source")  # the meta keys the format defines; any other is the writer's own
ZIP_MAGIC = b"PK\x03\x04"  # how an .npz file, a zip archive, starts
DIGEST_KEY = "sha256"  # the SHA-256 of all the other arrays, as a 0-d string array


class DemonstrationsError(ValueError):
    """A demonstrations file that cannot be used; the message names the file, the key at fault and what was
    expected, on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


class BatchedActor(Protocol):
    """What `collect` needs of a policy (`Policy` and the scripted experts have it)."""

    def act_batch(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@dataclass(eq=False)  # arrays in dicts have no plain equality
class Demonstrations:
    scenario: str
    env_kwargs: dict[str, Any]  # the keyword arguments of `mpe2.<scenario>.parallel_env`, as `Policy.env_kwargs`
    agents: list[str]
    obs: dict[str, np.ndarray]  # agent -> float32 [T, obs_dim]
    actions: dict[str, np.ndarray]  # agent -> int64 [T] or float32 [T, act_dim]
    rewards: dict[str, np.ndarray]  # agent -> float32 [T]
    next_obs: dict[str, np.ndarray]  # agent -> float32 [T, obs_dim]
    episode_id: np.ndarray  # int64 [T], non-decreasing
    source: Any = field(default_factory=dict)  # free-form, any JSON value: what made them
    # The writer's own meta keys, outside the format: kept so that a file re-saved keeps them; training ignores them.
    extra_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_transitions(self) -> int:
        return len(self.episode_id)

    @property
    def num_episodes(self) -> int:
        return len(np.unique(self.episode_id))

    def episode_returns(self) -> np.ndarray:
        """Environment return of each episode per agent, float64 [episodes, n_agents], in episode order."""
        return episode_sums(self.episode_id, np.stack([self.rewards[a] for a in self.agents], axis=1))


def episode_sums(episode_id: np.ndarray, per_step: np.ndarray) -> np.ndarray:
    """Per-step values [T, k] summed over each episode: float64 [episodes, k], in episode order."""
    _, episode = np.unique(episode_id, return_inverse=True)
    sums = np.zeros((episode.max() + 1, per_step.shape[1]))
    # Summed one step at a time in the order of the steps, as `evaluate` does: the same figures to the bit.
    np.add.at(sums, episode, per_step)
    return sums


class ExpertData:
    """Demonstrations as tensors to learn from: per agent, observations [T, obs_dim] and network actions
    [T, dim] (one-hot for discrete ones, as `ActionSpec.from_env` makes them), drawn with a generator of their
    own so that a resumed run draws the same batches (`state_dict`)."""

    def __init__(self, demos: Demonstrations, action_specs: list[ActionSpec], device: torch.device, seed: int):
        self.obs = [torch.as_tensor(demos.obs[a], device=device) for a in demos.agents]
        self.actions = [spec.from_env(demos.actions[a]).to(device) for spec, a in zip(action_specs, demos.agents)]
        self.size = demos.num_transitions
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def rows(self, rows: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return [obs[rows] for obs in self.obs], [actions[rows] for actions in self.actions]

    def sample(self, batch_size: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(observations, actions) per agent of `batch_size` transitions drawn with replacement."""
        return self.rows(torch.randint(0, self.size, (batch_size,), device=self.device, generator=self.generator))

    def epoch(self, batch_size: int) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor]]]:
        """Every transition once, in a new random order, in batches of `batch_size` (the last one smaller)."""
        order = torch.randperm(self.size, device=self.device, generator=self.generator)
        for start in range(0, self.size, batch_size):
            yield self.rows(order[start : start + batch_size])

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def save_demonstrations(demos: Demonstrations, path: str | Path) -> None:
    """Write `demos` to `path` (.npz) atomically: a crash leaves any previous file there whole."""
    path = Path(path)
    clashes = sorted(set(demos.extra_meta) & set(FORMAT_META))
    if clashes:  # written last, the format's own fields would silently replace them
        raise ValueError(f"extra_meta may not hold the format's own meta keys, got {', '.join(clashes)}")
    meta = {**demos.extra_meta, "format_version": FORMAT_VERSION, "scenario": demos.scenario,
            "env_kwargs": demos.env_kwargs, "agents": list(demos.agents), "source": demos.source}
    arrays = {"meta": np.array(json.dumps(meta)), "episode_id": np.asarray(demos.episode_id, dtype=np.int64)}
    for agent in demos.agents:
        actions = np.asarray(demos.actions[agent])
        arrays[f"obs/{agent}"] = np.asarray(demos.obs[agent], dtype=np.float32)
        arrays[f"act/{agent}"] = actions.astype(np.int64 if actions.dtype.kind in "iu" else np.float32)
        arrays[f"rew/{agent}"] = np.asarray(demos.rewards[agent], dtype=np.float32)
        arrays[f"next_obs/{agent}"] = np.asarray(demos.next_obs[agent], dtype=np.float32)
    arrays[DIGEST_KEY] = np.array(arrays_digest(arrays))
    path.parent.mkdir(parents=True, exist_ok=True)
    # An open file, not a name: np.savez would append ".npz" to the temporary name.
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        np.savez(file, **arrays)


def env_kwargs_differences(scenario: str, found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """How two sets of kwargs of a scenario build different envs; a default given or left out is the same."""
    defaults = mpe2_defaults(scenario)
    found, expected = {**defaults, **found}, {**defaults, **expected}
    return [f"{key}={json.dumps(found.get(key))} where {json.dumps(expected.get(key))} was expected"
            for key in sorted(found.keys() | expected.keys()) if found.get(key) != expected.get(key)]


def load_demonstrations(
    path: str | Path, scenario: str | None = None, env_kwargs: dict[str, Any] | None = None
) -> Demonstrations:
    """Read and check a demonstrations file against the env its meta names; with `scenario` / `env_kwargs`,
    the file must be of that env. Anything wrong raises `DemonstrationsError`."""
    path = Path(path)
    if not path.is_file():
        raise DemonstrationsError(f"{path}: no demonstrations file there")
    if path.stat().st_size == 0:
        raise DemonstrationsError(f"{path}: the file is empty, not a demonstrations .npz file")
    with open(path, "rb") as file:
        if file.read(4) != ZIP_MAGIC:  # else np.load takes it for a pickle, and says so
            raise DemonstrationsError(f"{path}: not an .npz file (it does not start as a zip archive does)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: read_array(path, archive, key) for key in archive.files}
    except DemonstrationsError:
        raise
    except Exception as error:  # a damaged zip raises nearly any type: BadZipFile, EOFError, OSError, ValueError...
        raise DemonstrationsError(f"{path}: not a readable .npz file: truncated or damaged "
                                  f"({describe(error)})") from None
    recorded = arrays.pop(DIGEST_KEY, None)  # files written before digests were recorded have none
    if recorded is not None and str(recorded) != arrays_digest(arrays):
        raise DemonstrationsError(f"{path}: its arrays do not match the SHA-256 recorded when it was written: "
                                  f"the file is damaged or was edited; it is not used")
    meta = read_meta(path, arrays)
    if scenario is not None and meta["scenario"] != scenario:
        raise DemonstrationsError(f"{path}: key 'meta': the demonstrations are of {meta['scenario']}, not {scenario}")
    differences = [] if env_kwargs is None else env_kwargs_differences(meta["scenario"], meta["env_kwargs"], env_kwargs)
    if differences:
        raise DemonstrationsError(f"{path}: key 'meta': the demonstrations' env_kwargs have {'; '.join(differences)}")
    spaces_of_env = read_env_spaces(path, meta)
    check_keys(path, arrays, meta["agents"])
    check_arrays(path, arrays, spaces_of_env)
    agents = meta["agents"]
    return Demonstrations(
        scenario=meta["scenario"],
        env_kwargs=meta["env_kwargs"],
        agents=agents,
        obs={a: arrays[f"obs/{a}"] for a in agents},
        actions={a: arrays[f"act/{a}"] for a in agents},
        rewards={a: arrays[f"rew/{a}"] for a in agents},
        next_obs={a: arrays[f"next_obs/{a}"] for a in agents},
        episode_id=arrays["episode_id"],
        source=meta.get("source", {}),
        extra_meta={key: value for key, value in meta.items() if key not in FORMAT_META},
    )


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of a dataset's arrays: every key, dtype, shape and byte."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.asarray(arrays[key])
        digest.update(f"{key};{array.dtype.str};{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: what a checkpoint keeps to tell, on resume, that its dataset is unchanged."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def describe(error: Exception) -> str:
    """An exception in a few words: numpy's messages go on with advice."""
    return f"{type(error).__name__}: {str(error).split('. ')[0][:160]}"


def read_array(path: Path, archive: Any, key: str) -> np.ndarray:
    try:
        return archive[key]
    except Exception as error:  # a damaged member (bad CRC, short read) or an object array needing pickle
        raise DemonstrationsError(f"{path}: key {key!r} does not read ({describe(error)})") from None


def read_meta(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if "meta" not in arrays:
        raise DemonstrationsError(f"{path}: key 'meta' is missing (expected a JSON string)")
    raw = arrays["meta"]
    if raw.shape != () or raw.dtype.kind != "U":
        raise DemonstrationsError(f"{path}: key 'meta': expected a 0-d unicode array (a JSON string), "
                                  f"got {raw.dtype} {list(raw.shape)}")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as error:
        raise DemonstrationsError(f"{path}: key 'meta': not JSON ({error})") from None
    if not isinstance(meta, dict):
        raise DemonstrationsError(f"{path}: key 'meta': expected a JSON object, got {type(meta).__name__}")
    missing = [name for name in REQUIRED_META if name not in meta]
    if missing:
        raise DemonstrationsError(f"{path}: key 'meta' lacks {', '.join(missing)} "
                                  f"(expected {', '.join(REQUIRED_META)} and source)")
    version = meta["format_version"]
    if type(version) is not int or version != FORMAT_VERSION:
        raise DemonstrationsError(f"{path}: key 'meta': format_version {version!r} is not the supported "
                                  f"{FORMAT_VERSION}")
    expected_types = {"scenario": str, "env_kwargs": dict, "agents": list}  # source may be any JSON value
    for name, kind in expected_types.items():
        if name in meta and not isinstance(meta[name], kind):
            raise DemonstrationsError(f"{path}: key 'meta': {name} must be a JSON {kind.__name__}, "
                                      f"got {meta[name]!r}")
    if meta["scenario"] not in SCENARIOS:
        raise DemonstrationsError(f"{path}: key 'meta': unknown scenario {meta['scenario']!r} "
                                  f"(expected one of {', '.join(SCENARIOS)})")
    return meta


def read_env_spaces(path: Path, meta: dict[str, Any]) -> EnvSpaces:
    """The agents and spaces of the env the meta names, which must list the same agents."""
    try:
        found = env_spaces(meta["scenario"], meta["env_kwargs"])
    except Exception as error:  # a scenario's constructor raises any type for options it cannot take
        raise DemonstrationsError(f"{path}: key 'meta': {meta['scenario']} does not build with env_kwargs "
                                  f"{meta['env_kwargs']} ({type(error).__name__}: {error})") from None
    if meta["agents"] != found.agents:
        raise DemonstrationsError(f"{path}: key 'meta': agents {meta['agents']} are not the env's {found.agents}")
    return found


def check_keys(path: Path, arrays: dict[str, np.ndarray], agents: list[str]) -> None:
    expected = ["meta", "episode_id"] + [f"{prefix}/{agent}" for prefix in PREFIXES for agent in agents]
    for key in expected:
        if key not in arrays:
            raise DemonstrationsError(f"{path}: key {key!r} is missing")
    for key in arrays:
        if key not in expected:
            raise DemonstrationsError(f"{path}: key {key!r} is unknown (agents are {', '.join(agents)}; keys are "
                                      f"meta, episode_id and {'/, '.join(PREFIXES)}/ per agent)")


def check_array(path: Path, key: str, array: np.ndarray, dtype: type, shape: tuple[int, ...]) -> None:
    if array.dtype != dtype or array.shape != shape:
        raise DemonstrationsError(f"{path}: key {key!r}: expected {np.dtype(dtype)} {list(shape)}, "
                                  f"got {array.dtype} {list(array.shape)}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DemonstrationsError(f"{path}: key {key!r}: expected finite values, found NaN or infinity at row "
                                  f"{int(np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(1))[0])}")


def check_arrays(path: Path, arrays: dict[str, np.ndarray], found: EnvSpaces) -> None:
    episode_id = arrays["episode_id"]
    if episode_id.ndim != 1 or episode_id.dtype != np.int64:
        raise DemonstrationsError(f"{path}: key 'episode_id': expected int64 [T], "
                                  f"got {episode_id.dtype} {list(episode_id.shape)}")
    T = len(episode_id)
    if T == 0:
        raise DemonstrationsError(f"{path}: key 'episode_id': the dataset is empty (expected T > 0 transitions)")
    decreasing = np.flatnonzero(np.diff(episode_id) < 0)
    if len(decreasing):
        row = int(decreasing[0]) + 1
        raise DemonstrationsError(f"{path}: key 'episode_id': expected non-decreasing ids (episodes contiguous), "
                                  f"got {episode_id[row]} after {episode_id[row - 1]} at row {row}")
    for agent, obs_dim in zip(found.agents, found.obs_dims):
        action_space = found.action_spaces[agent]
        check_array(path, f"obs/{agent}", arrays[f"obs/{agent}"], np.float32, (T, obs_dim))
        check_array(path, f"next_obs/{agent}", arrays[f"next_obs/{agent}"], np.float32, (T, obs_dim))
        check_array(path, f"rew/{agent}", arrays[f"rew/{agent}"], np.float32, (T,))
        key, actions = f"act/{agent}", arrays[f"act/{agent}"]
        if isinstance(action_space, spaces.Discrete):
            check_array(path, key, actions, np.int64, (T,))
            low, high = 0, int(action_space.n) - 1
        else:
            check_array(path, key, actions, np.float32, (T, *action_space.shape))
            low, high = 0.0, 1.0
        outside = np.flatnonzero(((actions < low) | (actions > high)).reshape(T, -1).any(axis=1))
        if len(outside):
            raise DemonstrationsError(f"{path}: key {key!r}: expected actions in [{low}, {high}] ({action_space}), "
                                      f"got {actions[outside[0]]} at row {int(outside[0])}")


def collect(
    actor: BatchedActor, scenario: str, env_kwargs: dict[str, Any], episodes: int, seed: int,
    env_backend: str = "batched", max_parallel: int = MAX_PARALLEL,
) -> Demonstrations:
    """Roll out `episodes` whole episodes of `actor` on the seeds `evaluate` uses (same seed, same episodes:
    `envs.rollout.episode_seeds`), `max_parallel` envs at a time. Episode ids follow the seeds."""
    found = env_spaces(scenario, env_kwargs)
    agents, action_spaces = found.agents, found.action_spaces
    steps: list[tuple] = []  # per step: obs, actions, rewards, next_obs, episode id per env (-1: not recorded)
    for obs, actions, step, ids in rollout(actor, scenario, env_kwargs, episode_seeds(seed, episodes), env_backend,
                                           max_parallel):
        steps.append((obs, actions, step.rewards, step.next_observations, ids))

    ids = np.concatenate([s[4] for s in steps])  # step-major: [step 0 of every env, step 1 of every env, ...]
    recorded = np.flatnonzero(ids >= 0)
    order = recorded[np.argsort(ids[recorded], kind="stable")]  # stable: steps stay in order within an episode

    def gather(index: int, agent: str, dtype: type) -> np.ndarray:
        return np.concatenate([np.asarray(s[index][agent]) for s in steps])[order].astype(dtype, copy=False)

    def env_actions(agent: str) -> np.ndarray:
        if isinstance(action_spaces[agent], spaces.Discrete):
            return gather(1, agent, np.int64)
        return np.clip(gather(1, agent, np.float32), 0.0, 1.0)  # what the env applies: it clips to Box(0, 1)

    return Demonstrations(
        scenario=scenario,
        env_kwargs=dict(env_kwargs),
        agents=agents,
        obs={a: gather(0, a, np.float32) for a in agents},
        actions={a: env_actions(a) for a in agents},
        rewards={a: gather(2, a, np.float32) for a in agents},
        next_obs={a: gather(3, a, np.float32) for a in agents},
        episode_id=ids[order].astype(np.int64),
        source={"actor": type(actor).__name__, "episodes": episodes, "seed": seed, "env_backend": env_backend},
    )


def collect_to_file(
    actor: Any, out: Path, episodes: int, seed: int, env_backend: str = "batched", stochastic: bool = False,
    source: dict[str, Any] | None = None,
) -> Demonstrations:
    """`main.py collect`: `collect` from `actor` (a `Policy`, sampling its actions where `stochastic`, or an expert)
    on the env it plays, then save to `out` with `source` (what made them) recorded."""
    sampler = actor
    if stochastic:
        torch.manual_seed(seed)  # the samples come from torch's generator: the same seed, the same file
        sampler = SimpleNamespace(act_batch=functools.partial(actor.act_batch, stochastic=True))
    demos = collect(sampler, actor.scenario, actor.env_kwargs, episodes, seed, env_backend)
    demos.source.update(actor=type(actor).__name__, stochastic=stochastic, **(source or {}))
    save_demonstrations(demos, out)
    return demos


def summary(demos: Demonstrations, path: Path) -> str:
    """What `main.py collect` prints: the file, its size, and the mean return per agent and summed."""
    returns = demos.episode_returns()
    size = path.stat().st_size
    size_text = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"
    lines = [f"{path}: {demos.num_transitions} transitions, {demos.num_episodes} episodes of {demos.scenario} "
             f"({size_text})", "mean return per episode:"]
    for agent, mean in zip(demos.agents, returns.mean(axis=0)):
        lines.append(f"  {agent:<16} {mean:10.3f}")
    sums = returns.sum(axis=1)
    lines.append(f"  {'sum':<16} {sums.mean():10.3f}  (std {sums.std():.3f})")
    return "\n".join(lines)
