"""What a run will cost, checked before anything is allocated or created: work and memory.

An out-of-memory kill an hour in (or a traceback after the run folder was made) says nothing of why;
this says which setting asks for how much, and how much the machine has.
"""

from __future__ import annotations

from pathlib import Path

from maddpg_gail.config import Config, run_capacity

FLOAT_BYTES = 4
# Each network's weights, their gradients and Adam's two moments; actors and critics also have targets.
COPIES_WITH_TARGETS = 5
COPIES = 4
GIB = 2**30


class BudgetError(ValueError):
    """A run that cannot fit; `flag` is the setting to change, the message says how much is needed and had."""

    def __init__(self, flag: str, message: str):
        super().__init__(message)
        self.flag = flag


def mlp_parameters(in_dim: int, hidden_sizes: tuple[int, ...], out_dim: int) -> int:
    sizes = [in_dim, *hidden_sizes, out_dim]
    return sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))


def memory_needed(config: Config, obs_dims: list[int], action_dims: list[int]) -> dict[str, int]:
    """Bytes of the replay buffer, of the networks with their optimizers, and of one update's activations."""
    hidden = tuple(config.hidden_sizes)
    n = len(obs_dims)
    width = 2 * sum(obs_dims) + sum(action_dims) + n + 2  # ReplayBuffer's row: obs, actions, next obs, rewards, flags
    joint = sum(obs_dims) + sum(action_dims)
    critic_inputs = [joint if config.critic == "centralized" else o + a for o, a in zip(obs_dims, action_dims)]
    networks = COPIES_WITH_TARGETS * (
        sum(mlp_parameters(o, hidden, a) for o, a in zip(obs_dims, action_dims))
        + sum(mlp_parameters(c, hidden, 1) for c in critic_inputs))
    if config.reward == "gail":
        own = [o + a for o, a in zip(obs_dims, action_dims)]
        inputs = [joint] * n if config.discriminator == "centralized" else own
        networks += COPIES * sum(mlp_parameters(i, hidden, 1) for i in inputs)
    # forward and backward of actors and critics, and the targets' forward, on a batch (and its inputs)
    activations = 3 * 2 * n * config.batch_size * (sum(hidden) + max(critic_inputs))
    return {
        "replay buffer": run_capacity(config) * width * FLOAT_BYTES,  # what the trainer allocates
        "networks and optimizers": networks * FLOAT_BYTES,
        "one update's activations": activations * FLOAT_BYTES,
    }


def available_memory(device: str) -> tuple[int | None, str]:
    """(bytes free, where) for the training device: the GPU's free memory, or this machine's (within its cgroup)."""
    if device != "cpu":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.mem_get_info()[0], "the GPU"
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # a container's limit is lower than what the machine has
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            free = min(free if free is not None else 2**63, int(limit) - used)
    except OSError:
        pass
    return free, "this machine"


def check_budget(config: Config, obs_dims: list[int], action_dims: list[int],
                 available: tuple[int | None, str] | None = None) -> None:
    """BudgetError for a run that would do far more work than asked, or not fit in memory."""
    if config.episodes > 0 and config.num_envs > config.episodes:
        raise BudgetError("--num-envs", f"{config.num_envs} is more than --episodes {config.episodes}: the envs "
                                        f"end their episodes at the same step, so the run would train "
                                        f"{config.num_envs} episodes; use at most {config.episodes} envs")
    parts = memory_needed(config, obs_dims, action_dims)
    free, where = available if available is not None else available_memory(config.device)
    needed = sum(parts.values())
    if free is None or needed <= free:
        return
    largest = max(parts, key=parts.get)
    flag = {"replay buffer": "--buffer-size", "networks and optimizers": "--hidden-sizes",
            "one update's activations": "--batch-size"}[largest]
    detail = ", ".join(f"{name} {size / GIB:.1f} GiB" for name, size in parts.items())
    row = 2 * sum(obs_dims) + sum(action_dims) + len(obs_dims) + 2
    raise BudgetError(flag, f"the run needs about {needed / GIB:.1f} GiB of memory ({detail}; a stored transition "
                            f"is {row:,} floats) and {where} has {free / GIB:.1f} GiB available")


def check_run_fits(config: Config) -> None:
    """`check_budget` with the observation and action sizes of the env `config` builds."""
    from envs import env_spaces
    from maddpg_gail.networks import ActionSpec

    found = env_spaces(config.scenario, config.parallel_env_kwargs())
    check_budget(config, found.obs_dims, [ActionSpec.from_space(found.action_spaces[a]).dim for a in found.agents])
