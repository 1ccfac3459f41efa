"""Actor and critic networks, and how an actor's output becomes an action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn


@dataclass(frozen=True)
class ActionSpec:
    """An agent's action space as the networks see it: `dim` floats per action.

    Discrete(n) actions are one-hot vectors of size n; Box(0, 1, (d,)) actions are d floats.
    """

    discrete: bool
    dim: int

    @classmethod
    def from_space(cls, space: spaces.Space) -> ActionSpec:
        if isinstance(space, spaces.Discrete):
            if space.start != 0:
                raise ValueError(f"Discrete action spaces must start at 0, got start={space.start}")
            return cls(discrete=True, dim=int(space.n))
        if isinstance(space, spaces.Box) and len(space.shape) == 1:
            if not (np.all(space.low == 0.0) and np.all(space.high == 1.0)):
                raise ValueError(f"Box action spaces must be [0, 1] as in mpe2, got {space}")
            return cls(discrete=False, dim=int(space.shape[0]))
        raise ValueError(f"unsupported action space {space}: expected Discrete(n) or a 1-D Box(0, 1)")

    def to_env(self, actions: torch.Tensor) -> np.ndarray:
        """Network actions [K, dim] to what the env takes: int64 [K] or float32 [K, dim] in [0, 1]."""
        if self.discrete:
            return actions.argmax(dim=-1).cpu().numpy().astype(np.int64)
        return actions.clamp(0.0, 1.0).cpu().numpy().astype(np.float32)

    def from_env(self, actions: np.ndarray) -> torch.Tensor:
        """The inverse of `to_env`: env actions to network actions (one-hot for discrete)."""
        if self.discrete:
            return F.one_hot(torch.as_tensor(actions, dtype=torch.int64), self.dim).float()
        return torch.as_tensor(actions, dtype=torch.float32)


class NonFiniteError(ArithmeticError):
    """A NaN or inf in an observation, reward, action, loss or gradient: training stops before it is saved."""


def mlp(in_dim: int, hidden_sizes: tuple[int, ...], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden_sizes:
        layers += [nn.Linear(in_dim, size), nn.ReLU()]
        in_dim = size
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class StackedMLP:
    """The same-shaped MLPs (from `mlp`) of several agents evaluated as one: each layer is one batched matrix
    product for all of them, forward and backward, instead of one small product per agent.

    It owns the weights' memory, not their modules: each Linear layer's weights [out, in] and biases [out] of
    every member are stacked into one leaf tensor [G, out, in] and [G, out], and every member's parameters are
    then rows of those (`.data` views). Loading, copying or optimizing either form changes the other, so the
    per-agent modules (their state dicts, policy files, `Actor.greedy`) stay as they were. Gradients of a
    stacked evaluation land on the stacked leaves: an optimizer of the stack steps on them.
    """

    def __init__(self, nets: list[nn.Sequential]):
        linears = [[layer for layer in net if isinstance(layer, nn.Linear)] for net in nets]
        self.size = len(nets)
        self.layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.sources: list[list[nn.Parameter]] = []  # per stacked leaf, in `parameters()` order: its members' own
        for members in zip(*linears):
            self.sources += [[m.weight for m in members], [m.bias for m in members]]
            weight = torch.stack([m.weight.detach() for m in members]).requires_grad_()
            bias = torch.stack([m.bias.detach() for m in members]).requires_grad_()
            for k, m in enumerate(members):
                m.weight.data, m.bias.data = weight.data[k], bias.data[k]
            self.layers.append((weight, bias))

    def parameters(self) -> list[torch.Tensor]:
        """The stacked leaves, weight then bias of each layer in order (an optimizer's parameter list)."""
        return [t for layer in self.layers for t in layer]

    def member_grads(self, k: int) -> list[torch.Tensor]:
        """Member k's gradients, views into the stacked leaves' (None where a leaf has none yet)."""
        return [t.grad[k] for t in self.parameters() if t.grad is not None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs [G, B, in] (or [1, B, in], one input for every member) to outputs [G, B, out]."""
        x = x.expand(self.size, *x.shape[1:])
        *hidden, (weight, bias) = self.layers
        for w, b in hidden:
            x = F.relu(torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2)))
        # The output layer in float32 under mixed precision too: Q values and logits keep their resolution (bfloat16
        # spaces values near 30 by 0.125), at a small share of the products' cost.
        with torch.autocast(x.device.type, enabled=False):
            return torch.baddbmm(bias.unsqueeze(1), x.float(), weight.transpose(1, 2))


class AgentStacks:
    """One role's network of every agent (their actors' MLPs, say), evaluated group by group: the agents of a
    group, those whose networks have one shape, as one StackedMLP. `groups` lists the agents of each group."""

    def __init__(self, nets: list[nn.Sequential], groups: list[list[int]]):
        self.n_agents = len(nets)
        self.groups = groups
        self.stacks = [StackedMLP([nets[i] for i in group]) for group in groups]

    def __call__(self, inputs: list[torch.Tensor], features: nn.Module | None = None) -> list[torch.Tensor]:
        """Each agent's network at its input [B, in]; agents given one tensor share it without a copy. `features`,
        where given, is a feature module all agents' networks read their input through (the actors' `inputs`):
        applied once per group, to the group's inputs stacked [G, B, in]."""
        outputs: list[torch.Tensor] = [None] * self.n_agents
        for group, stack in zip(self.groups, self.stacks):
            first = inputs[group[0]]
            shared = all(inputs[i] is first for i in group)
            x = first.unsqueeze(0) if shared else torch.stack([inputs[i] for i in group])
            if features is not None:
                x = features(x)
            for i, out in zip(group, stack(x).unbind(0)):
                outputs[i] = out
        return outputs

    def parameters(self) -> list[torch.Tensor]:
        return [t for stack in self.stacks for t in stack.parameters()]

    def sources(self) -> list[list[nn.Parameter]]:
        """For each of `parameters()`, the agents' module parameters it stacks."""
        return [members for stack in self.stacks for members in stack.sources]

    def agent_grads(self) -> list[list[torch.Tensor]]:
        """Each agent's gradients, in agent order: views into the stacked leaves' gradients."""
        grads: list[list[torch.Tensor]] = [[] for _ in range(self.n_agents)]
        for group, stack in zip(self.groups, self.stacks):
            for k, i in enumerate(group):
                grads[i] = stack.member_grads(k)
        return grads


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` is a CPU that multiplies bfloat16 natively (AVX512-BF16 or AMX): there, mixed precision
    makes the updates 1.26-1.29 times faster (docs/benchmarks.md); elsewhere bfloat16 is emulated, and slower."""
    if device.type != "cpu":
        return False  # not measured on a GPU
    try:
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except AttributeError:  # private helpers of torch.cpu, gone in some future version: the safe answer
        return False


def mixed_precision(precision: str, device: torch.device) -> bool:
    """Whether updates on `device` run in bfloat16 mixed precision for the setting `precision` (Config.precision)."""
    return precision == "bfloat16" or (precision == "auto" and native_bfloat16(device))


def shape_groups(shapes: list, stack: bool = True) -> list[list[int]]:
    """The agents (indices) grouped by their networks' `shapes` (any comparable key), groups in order of their
    first agent; with `stack` False every agent is a group of its own (each network evaluated alone)."""
    if not stack:
        return [[i] for i in range(len(shapes))]
    groups: dict = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(shape, []).append(i)
    return list(groups.values())


def stacked_optimizer_state(saved: dict, modules: nn.ModuleList, sources: list[list[nn.Parameter]]) -> dict:
    """An optimizer state for the stacked leaves whose members' parameters `sources` lists, from `saved`: as it is
    where it was saved over those leaves, else converted from a state over `modules.parameters()` (checkpoints from
    before the stacks, whose optimizers held every agent's parameters one by one): each leaf's moments are its
    members' stacked in the same order."""
    ids = saved["param_groups"][0]["params"]
    leaf_shapes = [(len(members), *members[0].shape) for members in sources]
    saved_shapes = [tuple(saved["state"][i]["exp_avg"].shape) if i in saved["state"] else None for i in ids]
    if len(ids) == len(sources) and all(shape in (None, tuple(leaf)) for shape, leaf in zip(saved_shapes, leaf_shapes)):
        return saved
    position = {id(p): k for k, p in enumerate(modules.parameters())}
    if len(ids) != len(position):
        raise ValueError(f"an optimizer state of {len(ids)} parameters fits neither the {len(sources)} stacked nor "
                         f"the {len(position)} per-agent parameters of these networks")
    state = {}
    for leaf, members in enumerate(sources):
        old = [saved["state"].get(ids[position[id(p)]]) for p in members]
        if all(entry is not None for entry in old):
            # a step count is one for all members (a copy: the saved one may still be stepped by its own optimizer)
            state[leaf] = {key: torch.stack([entry[key] for entry in old]) if key != "step" else old[0][key].clone()
                           for key in old[0]}
    group = {**saved["param_groups"][0], "params": list(range(len(sources)))}
    return {"state": state, "param_groups": [group]}


# --- discrete gradient estimators: a one-hot sample forward, a surrogate gradient backward -------------------


def greedy_one_hot(logits: torch.Tensor) -> torch.Tensor:
    return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)


def gumbel_noise(like: torch.Tensor) -> torch.Tensor:
    """Gumbel(0, 1) draws shaped as `like`, -log(-log U) of uniform U: three times faster on a CPU than torch's
    `exponential_`, which `F.gumbel_softmax` draws from. U is kept off 0 so every draw is finite (at most about
    16.6, where U is the largest float below 1)."""
    return torch.rand_like(like).clamp_(min=torch.finfo(like.dtype).tiny).log_().neg_().log_().neg_()


def softmax(x: torch.Tensor) -> torch.Tensor:
    """`x.softmax(-1)`, twice as fast on a CPU over a last dimension as short as an action's (5 logits: 18 against
    38 us at batch 512, where torch's kernel does not vectorize)."""
    e = (x - x.detach().amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def sample_one_hot(logits: torch.Tensor) -> torch.Tensor:
    """A one-hot draw from Categorical(logits) by the Gumbel-max trick, without a gradient (an exploration action):
    argmax(logits + G) is the argmax of every Gumbel-softmax of that noise, at any temperature."""
    return greedy_one_hot(logits + gumbel_noise(logits))


def gumbel_softmax_straight_through(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """A one-hot sample in the forward pass whose gradient is that of the soft Gumbel-softmax at the same noise
    (`F.gumbel_softmax(hard=True)`, 1.4 times faster forward and backward)."""
    perturbed = (logits + gumbel_noise(logits)) / temperature
    soft = softmax(perturbed)
    return greedy_one_hot(perturbed) + (soft - soft.detach())


@torch.no_grad()
def conditional_gumbel(logits: torch.Tensor, one_hot: torch.Tensor, samples: int) -> torch.Tensor:
    """`samples` draws [samples, ..., n] of Gumbel(0, 1) noise G conditioned on argmax(logits + G) being `one_hot`'s
    choice (Paulus, Maddison and Krause 2021, appendix): with Z = sum exp(logits) and E_j ~ Exp(1), logits + G is
    log Z - log E_chosen at the choice and -log(E_j exp(-logits_j) + E_chosen / Z), smaller, everywhere else.
    In log space, so that large logits do not overflow. Without a gradient: the estimator differentiates the soft
    sample at this noise, as straight-through does at its own."""
    exponentials = torch.empty((samples, *logits.shape), dtype=logits.dtype, device=logits.device).exponential_()
    chosen = (one_hot * exponentials).sum(-1, keepdim=True)
    log_z = logits.logsumexp(-1, keepdim=True)
    others = -torch.logaddexp(exponentials.log() - logits, chosen.log() - log_z)
    return torch.where(one_hot.bool(), log_z - chosen.log(), others) - logits


def gumbel_rao(logits: torch.Tensor, samples: int, temperature: float = 1.0) -> torch.Tensor:
    """The Gumbel-Rao estimator (Paulus, Maddison and Krause 2021): the forward pass is a one-hot sample of
    Categorical(logits), as straight-through's; the gradient is the mean of the soft samples' gradients over
    `samples` Gumbel perturbations conditioned on that one-hot, a Rao-Blackwellization of straight-through's
    single-sample gradient (lower variance, the same forward)."""
    one_hot = F.one_hot(torch.distributions.Categorical(logits=logits, validate_args=False).sample(),
                        logits.shape[-1]).to(logits.dtype)
    soft = ((logits + conditional_gumbel(logits, one_hot, samples)) / temperature).softmax(-1).mean(0)
    return one_hot + (soft - soft.detach())


class Actor(nn.Module):
    """Maps one agent's observation to its action; `forward` returns the raw network output
    (logits for discrete actions, pre-sigmoid values for continuous ones). `inputs`, where given, is a
    feature module (envs/features.py): observations [..., obs_dim] to [..., obs_dim + inputs.extra_dims],
    the MLP's input."""

    def __init__(self, obs_dim: int, action: ActionSpec, hidden_sizes: tuple[int, ...],
                 inputs: nn.Module | None = None,
                 estimator: Callable[[torch.Tensor], torch.Tensor] = gumbel_softmax_straight_through):
        super().__init__()
        self.action = action
        self.estimator = estimator  # logits to a one-hot action with a gradient: `differentiable`'s, for discrete
        self.inputs = inputs if inputs is not None else nn.Identity()
        self.net = mlp(obs_dim + (inputs.extra_dims if inputs is not None else 0), hidden_sizes, action.dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.inputs(obs))

    # Each action of an observation is that of the raw output `forward` gives it; the learner, which evaluates
    # every agent's network at once (AgentStacks), turns the raw outputs into actions with the `*_action` forms.

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.greedy_action(self(obs))

    def explore(self, obs: torch.Tensor, noise_std: float) -> torch.Tensor:
        return self.exploring_action(self(obs), noise_std)

    def smoothed(self, obs: torch.Tensor, noise_std: float, noise_clip: float) -> torch.Tensor:
        return self.smoothed_action(self(obs), noise_std, noise_clip)

    def differentiable(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action, raw output) for the policy gradient: actions a critic can differentiate through."""
        out = self(obs)
        return self.differentiable_action(out), out

    def greedy_action(self, out: torch.Tensor) -> torch.Tensor:
        return greedy_one_hot(out) if self.action.discrete else torch.sigmoid(out)

    def exploring_action(self, out: torch.Tensor, noise_std: float) -> torch.Tensor:
        """Exploration actions: a Gumbel-softmax sample, or Gaussian noise clipped to [0, 1]."""
        if self.action.discrete:
            # not `estimator`: nothing differentiates an exploration action
            return sample_one_hot(out)
        return (torch.sigmoid(out) + noise_std * torch.randn_like(out)).clamp(0.0, 1.0)

    def smoothed_action(self, out: torch.Tensor, noise_std: float, noise_clip: float) -> torch.Tensor:
        """TD3's target policy smoothing: the greedy action of the raw output plus Gaussian noise of std
        `noise_std` clipped to [-noise_clip, noise_clip]. The noise goes on the raw output, logits or pre-sigmoid
        values, not on the action: a one-hot plus noise is no action, and noise before the sigmoid keeps the
        action in [0, 1] without clipping it onto the box's edges."""
        return self.greedy_action(out + (noise_std * torch.randn_like(out)).clamp(-noise_clip, noise_clip))

    def differentiable_action(self, out: torch.Tensor) -> torch.Tensor:
        return self.estimator(out) if self.action.discrete else torch.sigmoid(out)


class Critic(nn.Module):
    """Q(inputs); with `twin`, a second Q head of its own, as TD3's twin critics (`both`). `forward` is the first
    head, the one the actor climbs."""

    def __init__(self, in_dim: int, hidden_sizes: tuple[int, ...], twin: bool = False):
        super().__init__()
        self.net = mlp(in_dim, hidden_sizes, 1)
        if twin:  # only then: a single critic's parameters keep the names of checkpoints from before twins
            self.twin = mlp(in_dim, hidden_sizes, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs).squeeze(-1)

    def both(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self(inputs), self.twin(inputs).squeeze(-1)
