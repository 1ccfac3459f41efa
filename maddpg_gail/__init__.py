"""maddpg-gail: MADDPG, independent DDPG and MAGAIL on the Multi-Agent Particle Environments."""

from maddpg_gail.config import Config

__all__ = ["Config", "Policy", "load_policy"]


def __getattr__(name: str):
    # torch loads on first use of the policy API, so the CLI can refuse bad flags without it
    if name in ("Policy", "load_policy"):
        from maddpg_gail import policy

        return getattr(policy, name)
    raise AttributeError(f"module 'maddpg_gail' has no attribute {name!r}")
