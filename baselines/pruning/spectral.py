"""GCA support: a traceable stand-in for spectral-norm convolutions and the attention blocks.

GCA-Matting (:mod:`baselines.models.gca`) wraps 70 of its 75 convolutions in
:class:`~baselines.models.gca.SpectralNorm`, which convolves functionally with
``weight_bar / sigma`` (``sigma = u . (W_mat v)``); the wrapped convolution has no ``weight``, so
Torch-Pruning cannot see it as a prunable layer (``architectures.md`` section 8.1). Its guided
contextual attention blocks (:class:`~baselines.models.gca.GuidedCxtAtten`) mix the key
(guidance) channels into the feature path through ``unfold`` / ``bmm`` / ``fold``, which
Torch-Pruning treats as element-wise ops and would couple the 64 key channels with the 128
feature channels (a wrong coupling, measured on Torch-Pruning 1.6.1).

Both are handled on a **proxy** (a deep copy of the model, changed in place):

* :func:`make_traceable` replaces every ``SpectralNorm`` wrapper ``X`` by its inner convolution,
  holding the *unnormalised* ``weight_bar`` as its ``weight`` (so slicing the proxy's weight is
  slicing ``weight_bar``), and keeps the original ``u`` / ``v`` aside. Each attention block gets
  a forward with the same channel relations, ``W(feature + probe(guidance_conv(guidance))) +
  feature``, where ``probe`` is a proxy-only 1x1 convolution (key channels -> feature
  channels). Torch-Pruning then couples exactly: the feature channels with ``W``'s input and
  output channels and the residual stream (the attention's value path is channel-preserving);
  the guidance features' channels with the input channels of both blocks' ``guidance_conv``;
  ``guidance_conv``'s output (key) channels only with the probe (no BN: never pruned).
* :func:`restore` re-wraps every convolution in a new ``SpectralNorm`` whose ``weight_bar`` is
  the pruned weight and whose ``u`` / ``v`` are **re-estimated** on it (``vectors="svd"``,
  the default): the leading left / right singular vectors of
  ``weight_bar.reshape(shape[0], -1)`` (:func:`reestimate`, in float64), signed
  to agree with the teacher's sliced ``u``, so the eval-mode ``sigma = u . (W_mat v)`` *is*
  the sliced weight's largest singular value and the pruned network normalises each layer as
  a converged spectral norm would. Dimension 0 is the *output* channels of a ``Conv2d`` but
  the *input* channels of a ``ConvTranspose2d`` (the official op normalises
  ``weight_bar.reshape(shape[0], -1)``, and a transposed weight is ``in x out x k x k``).

  ``vectors="slice"`` keeps the previous behaviour: the teacher's ``u`` / ``v`` sliced to the
  kept channels (``u`` at the kept indices of weight dimension 0, ``v`` at those of dimension
  1 times ``k x k``), not recomputed. Sliced vectors are no longer unit vectors, so the eval
  ``sigma`` is the teacher's bilinear form restricted to the kept channels (measured on a
  fresh GCA at 50%: 0.18-0.67 of the sliced weight's largest singular value), the effective
  weights grow and an untrained pruned GCA's eval alpha saturates towards 0/1; the first
  training forwards renormalise them by power iteration (official semantics). Use it where the
  vectors are overwritten anyway (a checkpoint is loaded next, the network is re-initialised)
  or where bytes of an earlier run must be reproduced. ``power_iterations`` (``prune_model(...,
  sn_power_iterations=n)``) adds that many power-iteration steps after either. It then
  removes the probes and the surrogate forwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MethodType

import torch
from torch import Tensor, nn

__all__ = ["TraceState", "make_traceable", "restore", "reestimate", "PROBE", "SN_VECTORS"]

#: Attribute name of the proxy-only probe convolution in each attention block.
PROBE = "_trace_probe"

#: How :func:`restore` sets a pruned spectral-norm layer's ``u`` / ``v`` (module docstring).
SN_VECTORS = ("svd", "slice")


@dataclass
class TraceState:
    """What :func:`make_traceable` changed, so :func:`restore` can undo it.

    Attributes
    ----------
    sn
        Wrapper name ``X`` -> ``(u, v, power_iterations, training)`` of the original
        ``SpectralNorm`` (the proxy holds the plain convolution at ``X``; in the real model the
        convolution is ``X.module``).
    attention
        Names of the attention blocks that carry a probe and a surrogate forward.
    """

    sn: dict[str, tuple[Tensor, Tensor, int, bool]] = field(default_factory=dict)
    attention: list[str] = field(default_factory=list)

    @property
    def probes(self) -> list[str]:
        """Names of the proxy-only probe convolutions."""
        return [f"{b}.{PROBE}" for b in self.attention]

    def real_name(self, name: str) -> str | None:
        """The real model's name of proxy module ``name`` (``None``: proxy-only)."""
        if name in self.sn:
            return f"{name}.module"
        if any(name == p or name.startswith(p + ".") for p in self.probes):
            return None
        return name


def _surrogate_forward(
    self: nn.Module,
    guidance: Tensor,
    feature: Tensor,
    unknown: Tensor | None = None,
    *,
    softmax_scale: float = 1.0,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Tracing-only forward of an attention block: same channel relations, no attention."""
    del unknown, softmax_scale
    probe = getattr(self, PROBE)
    y = feature + probe(self.guidance_conv(guidance))
    empty = feature.new_zeros(0)
    return self.W(y) + feature, (empty, empty)


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def make_traceable(model: nn.Module) -> TraceState:
    """Turn ``model`` (a GCA proxy, changed in place) into a Torch-Pruning-traceable network.

    Parameters
    ----------
    model
        A deep copy of a :class:`~baselines.models.gca.GCAMatting`.

    Returns
    -------
    TraceState
        What was replaced; pass it to :func:`restore`.
    """
    from baselines.models.gca import GuidedCxtAtten, SpectralNorm

    state = TraceState()
    for name, mod in list(model.named_modules()):
        if isinstance(mod, SpectralNorm):
            conv = mod.module
            w_bar = conv._parameters.pop("weight_bar")
            u = conv._parameters.pop("weight_u")
            v = conv._parameters.pop("weight_v")
            assert w_bar is not None and u is not None and v is not None
            conv.register_parameter("weight", w_bar)
            state.sn[name] = (u.detach(), v.detach(), mod.power_iterations, mod.training)
            _set(model, name, conv)
        elif isinstance(mod, GuidedCxtAtten):
            g = mod.guidance_conv
            w0 = mod.W[0]
            probe = nn.Conv2d(g.out_channels, w0.out_channels, 1, bias=False)
            probe.to(device=g.weight.device, dtype=g.weight.dtype)
            mod.add_module(PROBE, probe)
            mod.forward = MethodType(_surrogate_forward, mod)  # type: ignore[method-assign]
            state.attention.append(name)
    return state


def _kept(n: int, removed: set[int]) -> Tensor:
    return torch.tensor([i for i in range(n) if i not in removed], dtype=torch.long)


@torch.no_grad()
def reestimate(sn: nn.Module, reference: Tensor | None = None) -> float:
    """Set a ``SpectralNorm``'s ``u`` / ``v`` to the leading singular pair of its weight.

    ``W = weight_bar.reshape(shape[0], -1)`` (float64). The leading eigenvector of the smaller
    Gram matrix (``W W^T`` or ``W^T W``) is found by repeated squaring (power iteration with
    squaring, trace-normalised, until it stops changing: only matrix products, so it is fast
    and deterministic where a multi-threaded LAPACK SVD is slow); the other vector follows from
    one ``W`` / ``W^T`` product and the pair is polished by one power-iteration step
    (``v <- normalise(W^T u)``, ``u <- normalise(W v)``, the official update). ``u`` and ``v``
    become unit vectors (cast to the parameters' dtype) with ``sigma = u . (W v)`` the largest
    singular value -- the fixed point the official power iteration converges to. The pair's
    sign is free; it is chosen so that ``u . reference >= 0`` (``reference``: e.g. the teacher's
    sliced ``u``), keeping ``u`` where a converged teacher had it. An all-zero weight leaves
    the vectors as they are. Returns the largest singular value (float64 estimate).
    """
    m = sn.module
    w: Tensor = m.weight_bar
    mat = w.detach().reshape(w.shape[0], -1).double()
    by_rows = mat.shape[0] <= mat.shape[1]
    gram = mat @ mat.T if by_rows else mat.T @ mat
    trace = float(gram.diagonal().sum())
    if not trace > 0.0:
        return 0.0
    p = gram / trace
    for _ in range(64):  # p -> projector onto the top eigenspace / its rank
        q = p @ p
        q = q / q.diagonal().sum()
        done = float((q - p).abs().max()) <= 1e-13
        p = q
        if done:
            break
    x = p[:, int(p.diagonal().argmax())]
    x = x / x.norm()
    if by_rows:
        v = _unit(mat.T @ x)
    else:
        v = x
    u = _unit(mat @ v)
    v = _unit(mat.T @ u)
    u = _unit(mat @ v)
    if reference is not None and float(torch.dot(u, reference.double().to(u.device))) < 0:
        u, v = -u, -v
    m.weight_u.copy_(u)
    m.weight_v.copy_(v)
    return float(torch.dot(u, mat @ v))


def _unit(x: Tensor) -> Tensor:
    return x / (x.norm() + 1e-300)


def restore(
    model: nn.Module,
    state: TraceState,
    removed: Mapping[tuple[str, str], set[int]],
    *,
    vectors: str = "svd",
    power_iterations: int = 0,
) -> None:
    """Undo :func:`make_traceable` after pruning the proxy (in place).

    Parameters
    ----------
    model
        The (pruned) proxy.
    state
        From :func:`make_traceable` on it.
    removed
        ``(proxy module name, "out" | "in") -> removed channel indices`` in the teacher's
        numbering (:func:`baselines.pruning.coupling.removed_indices`).
    vectors
        ``"svd"`` (default): every re-wrapped ``u`` / ``v`` re-estimated on the pruned weight
        (:func:`reestimate`; eval ``sigma`` = its largest singular value); ``"slice"``: the
        teacher's vectors sliced to the kept channels (module docstring).
    power_iterations
        Power-iteration steps run on every re-wrapped ``u`` / ``v`` afterwards (default 0).

    Raises
    ------
    ValueError
        For an unknown ``vectors``.
    RuntimeError
        When the sliced ``u`` / ``v`` do not fit the pruned weight (a coupling bug).
    """
    from baselines.models.gca import SpectralNorm

    if vectors not in SN_VECTORS:
        raise ValueError(f"vectors must be one of {SN_VECTORS}, got {vectors!r}")

    for name, (u, v, iters, training) in state.sn.items():
        conv = model.get_submodule(name)
        assert isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d))
        if conv.groups != 1:
            raise NotImplementedError("grouped spectral-norm convolutions")
        k = conv.kernel_size[0] * conv.kernel_size[1]
        dim0, dim1 = ("in", "out") if isinstance(conv, nn.ConvTranspose2d) else ("out", "in")
        keep0 = _kept(u.numel(), removed.get((name, dim0), set()))
        keep1 = _kept(v.numel() // k, removed.get((name, dim1), set()))
        u_new = u[keep0]
        v_new = v.reshape(-1, k)[keep1].reshape(-1)
        w = conv.weight
        if u_new.numel() != w.shape[0] or v_new.numel() != w[0].numel():
            raise RuntimeError(
                f"{name}: sliced u/v ({u_new.numel()}, {v_new.numel()}) do not fit the pruned "
                f"weight {tuple(w.shape)}"
            )
        with torch.random.fork_rng(devices=[]):  # SpectralNorm draws random u/v: keep RNG
            sn = SpectralNorm(conv, power_iterations=iters)
        with torch.no_grad():
            sn.module.weight_u.copy_(u_new)
            sn.module.weight_v.copy_(v_new)
        sn.module.weight_bar.requires_grad_(w.requires_grad)
        if vectors == "svd":
            reestimate(sn, reference=u_new)
        if power_iterations:
            sn.power_iterate(power_iterations)
        sn.train(training)
        _set(model, name, sn)
    for name in state.attention:
        blk = model.get_submodule(name)
        delattr(blk, PROBE)
        del blk.forward  # the instance attribute; the class's forward is back
    state.sn.clear()
    state.attention.clear()
