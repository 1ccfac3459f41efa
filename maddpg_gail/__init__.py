"""maddpg-gail: MADDPG, independent DDPG and MAGAIL on the Multi-Agent Particle Environments."""

from maddpg_gail.config import Config
from maddpg_gail.policy import Policy, load_policy

__all__ = ["Config", "Policy", "load_policy"]
