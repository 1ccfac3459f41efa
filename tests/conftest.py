import os
import warnings

import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=DeprecationWarning, module="pettingzoo")

from maddpg_gail.config import Config  # noqa: E402


@pytest.fixture
def tiny_config() -> Config:
    """A run small enough for a test: a few hundred transitions and a handful of updates."""
    return Config(
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
    )
