import dataclasses
import os
import shutil
import warnings
from itertools import permutations
from pathlib import Path

# progressbar2 keeps the sys.stderr it sees when progressbar.utils first loads as the real one for every
# later bar. Loading it here, under pytest's session-long capture, keeps a test's capsys stream (closed
# when that test ends) from becoming the stream of every bar after it.
import progressbar.utils  # noqa: F401
import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=DeprecationWarning, module="pettingzoo")

from maddpg_gail.config import Config  # noqa: E402
from maddpg_gail.trainer import train  # noqa: E402


# A run small enough for a test: a few hundred transitions and a handful of updates.
TINY_CONFIG = Config(
    num_envs=2,
    hidden_sizes=(16, 16),
    batch_size=32,
    buffer_size=2000,
    learning_starts=64,
    update_every=10,
    episodes=12,
    eval_interval=6,
    eval_episodes=2,
    save_interval=6,
    device="cpu",
    # float32: tests hold updates to hand-computed float32 values; mixed precision has tests of its own
    precision="float32",
)


def all_orders(relabellings) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every (landmark order, agent order) pair of `envs.symmetries.Relabellings`, each [N]: (N!)^2 relabellings."""
    orders = [torch.tensor(order, device=relabellings.device) for order in permutations(range(relabellings.n))]
    return [(landmarks, agents) for landmarks in orders for agents in orders]


@pytest.fixture
def tiny_config() -> Config:
    return dataclasses.replace(TINY_CONFIG)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A tiny run trained to its end (checkpoints at 6 and 12 episodes); tests copy it before touching it."""
    run_dir, completed = train(TINY_CONFIG, tmp_path_factory.mktemp("finished") / "run")
    assert completed
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))
