"""Mixed precision (--precision): the updates' hidden layers and the discriminators' rewards in bfloat16, everything
else in float32."""

import copy
import dataclasses

import pytest
import torch

from maddpg_gail.config import Config
from maddpg_gail.discriminators import DiscriminatorTrainer, Discriminators
from maddpg_gail.maddpg import MADDPG
from maddpg_gail.networks import ActionSpec, mixed_precision, native_bfloat16
from test_stacked import make_batch

OBS_DIMS, SPECS = [18, 18, 18], [ActionSpec(True, 5)] * 3


def learners(tiny_config, **overrides) -> dict[str, MADDPG]:
    found = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(0)
        config = dataclasses.replace(tiny_config, precision=precision, hidden_sizes=(64, 64), **overrides)
        found[precision] = MADDPG(OBS_DIMS, SPECS, config, torch.device("cpu"))
    return found


@pytest.mark.parametrize("algorithm", ["maddpg", "matd3"])
def test_a_bfloat16_update_measures_what_the_float32_one_does_but_not_bit_for_bit(tiny_config, algorithm):
    pair = learners(tiny_config, algorithm=algorithm, **({"policy_delay": 1} if algorithm == "matd3" else {}))
    batch = make_batch(OBS_DIMS, SPECS, size=256)
    stats = {}
    for precision, learner in pair.items():
        torch.manual_seed(1)
        stats[precision] = learner.update(batch)
    for name, value in stats["float32"].items():
        assert stats["bfloat16"][name].dtype == torch.float32, name
        # bfloat16 keeps 8 bits of mantissa: the losses, Q values and gradient norms agree to a few per cent
        torch.testing.assert_close(stats["bfloat16"][name], value, rtol=0.03, atol=1e-3, msg=name)
    assert not torch.equal(stats["bfloat16"]["critic_loss"], stats["float32"]["critic_loss"])  # it did run bfloat16
    for a, b in zip(pair["float32"].critics.parameters(), pair["bfloat16"].critics.parameters()):
        assert a.dtype == b.dtype == torch.float32  # the weights and Adam stay float32


def test_under_mixed_precision_q_values_and_logits_come_out_in_float32(tiny_config):
    learner = learners(tiny_config)["bfloat16"]
    batch = make_batch(OBS_DIMS, SPECS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = learner.actor_outputs(batch.obs)
        q = learner.q_heads(learner.critic_inputs(batch.obs, batch.actions))
        hidden = torch.nn.functional.linear(batch.obs[0], learner.actors[0].net[0].weight)
    assert hidden.dtype == torch.bfloat16  # what autocast does to a plain product, and so to the hidden layers
    assert all(out.dtype == torch.float32 for out in outputs)
    assert all(head.dtype == torch.float32 for heads in q for head in heads)


def test_auto_precision_is_bfloat16_only_on_a_cpu_that_multiplies_it_natively(monkeypatch):
    cpu = torch.device("cpu")
    for avx512_bf16, amx in ((True, False), (False, True), (False, False)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        assert native_bfloat16(cpu) == (avx512_bf16 or amx)
        assert mixed_precision("auto", cpu) == (avx512_bf16 or amx)
        assert mixed_precision("bfloat16", cpu) and not mixed_precision("float32", cpu)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert not native_bfloat16(cpu)  # a torch without the helper: float32, the safe choice
    assert not mixed_precision("auto", torch.device("cuda"))  # not measured on a GPU


def test_runs_saved_before_the_setting_resume_in_float32():
    assert Config.from_saved({}).precision == "float32"
    assert Config().precision == "auto"
    with pytest.raises(Exception, match="precision"):
        Config(precision="float16")


def test_under_mixed_precision_the_discriminators_rewards_are_bfloat16_products_and_their_updates_are_not():
    torch.manual_seed(0)
    discriminators = Discriminators([18, 18, 18], [5, 5, 5], (64, 64), centralized=False)
    trainers = {bf: DiscriminatorTrainer(copy.deepcopy(discriminators), lr=1e-3, reward_form="softplus",
                                         label_smoothing=0.0, grad_penalty=10.0, bfloat16_rewards=bf)
                for bf in (False, True)}
    generator = torch.Generator().manual_seed(1)
    obs = [torch.randn(256, 18, generator=generator) for _ in range(3)]
    actions = [torch.rand(256, 5, generator=generator) for _ in range(3)]
    rewards = {bf: trainer.rewards(obs, actions) for bf, trainer in trainers.items()}
    assert rewards[True].dtype == torch.float32 and rewards[True].shape == (256, 3)
    torch.testing.assert_close(rewards[True], rewards[False], rtol=0.03, atol=1e-3)
    assert not torch.equal(rewards[True], rewards[False])  # it did run bfloat16
    stats = {}
    for bf, trainer in trainers.items():
        torch.manual_seed(2)  # the gradient penalty's mixing weights
        stats[bf] = trainer.update((obs, actions), ([o + 1 for o in obs], actions))
    for a, b in zip(stats[False], stats[True]):
        assert torch.equal(a, b)  # an update is float32 either way: the same numbers, bit for bit
    for a, b in zip(*(trainer.discriminators.parameters() for trainer in trainers.values())):
        assert torch.equal(a, b)
