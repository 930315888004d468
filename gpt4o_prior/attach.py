"""Attach a prior branch to any ``nn.Module`` at named layers, without editing it, and detach it again.

:func:`attach_prior` wraps a host network in a :class:`PriorNet`. The prior branch (a :class:`PriorEncoder` and one
fusion block per attach point) lives beside the host; forward hooks registered on the host's modules, keyed by
module path, replace each attach point's output by the fused one while a prior is given. The host's parameters,
modules and code are untouched: ``PriorNet.detach()`` removes the hooks and gives the host back.

How a forward with a prior runs: the encoder turns the prior image into multi-scale features once; each hooked
module's output ``feat`` (B, C, H, W) is fused with the level whose stride is nearest the point's own, brought to
``feat``'s geometry (resized to ``ceil(x_size / stride)`` and, where the host padded its input, padded the same way
at the bottom / right). A confidence map given with the prior (``confidence=``, of the prior image's size) is
averaged down to each encoder level's size and brought to each point's geometry the same way; each block gates its
update by it (sharpened first by the point's learnt power, :func:`~gpt4o_prior.fusion.sharpen_confidence`).

Where the points are (the dry run, the choice per resolution) is :mod:`gpt4o_prior.attach_points`'; its
:class:`AttachPoint` and :func:`auto_attach_points` are importable from here too.
"""
from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .attach_points import (AttachPoint, auto_attach_points, call_counts, check_paths, find_example, first_conv,
                            token_grid,
                            points_from_calls)
from .checks import check_same_batch, check_shape
from .encoder import PriorEncoder, nearest_level
from .fusion.confidence import check_confidence
from .fusion.gate import DEFAULT_CONFIDENCE_POWER, gate_update, sharpen_confidence
from .fusion.registry import create_fusion, get_fusion_class

__all__ = ["attach_prior", "auto_attach_points", "PriorNet", "PriorBranch", "AttachPoint", "HostLoadReport"]


# ----------------------------------------------------------------------------------------------------------------
# Small records


@dataclass
class HostLoadReport:
    """What :meth:`PriorNet.load_host_state_dict` loaded.

    Attributes:
        loaded: host keys that were loaded.
        missing: host keys the checkpoint lacked (they keep their current values).
        unexpected: checkpoint keys the host does not have (ignored).
        mismatched: keys present on both sides with different shapes (ignored).
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when something loaded and no host tensor was missing or of another shape."""
        return bool(self.loaded) and not self.missing and not self.mismatched

    def __str__(self) -> str:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f", ... ({len(keys)} in all)" if len(keys) > 5 else "")

        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        lines = [f"host weights: loaded {len(self.loaded)} of {total} tensors"]
        for label, keys in (("missing", self.missing), ("shape mismatch", self.mismatched),
                            ("unexpected (ignored)", self.unexpected)):
            if keys:
                lines.append(f"  {label}: {few(keys)}")
        return "\n".join(lines)


class _Context:
    """Per-forward state shared by a PriorNet and its hooks (a plain object: copied along by ``deepcopy``)."""

    def __init__(self, owner: nn.Module):
        self.owner = owner
        self.feats: list[torch.Tensor] | None = None
        self.confidence: list[torch.Tensor] | None = None  # per encoder level, as feats
        self.scale = 1.0
        self.input_size: tuple[int, int] | None = None


def _key(path: str) -> str:
    return path.replace(".", "__")


def _fit(prior: torch.Tensor, input_size, feat_size, stride: float) -> torch.Tensor:
    """Bring a prior level to a point's geometry.

    The prior is resized to ``ceil(input_size / stride)``; where the host padded its input (``feat`` larger than
    that by less than its own size), it is padded at the bottom / right by replicating the border, as the hosts
    of this field pad; otherwise it is resized to ``feat_size`` directly.
    """
    fh, fw = int(feat_size[0]), int(feat_size[1])
    if input_size is not None and stride >= 1:
        th, tw = math.ceil(input_size[0] / stride), math.ceil(input_size[1] / stride)
        if th <= fh < 2 * th and tw <= fw < 2 * tw:
            if tuple(prior.shape[-2:]) != (th, tw):
                prior = F.interpolate(prior, size=(th, tw), mode="bilinear", align_corners=False)
            if (fh, fw) != (th, tw):
                prior = F.pad(prior, (0, fw - tw, 0, fh - th), mode="replicate")
            return prior
    if tuple(prior.shape[-2:]) != (fh, fw):
        prior = F.interpolate(prior, size=(fh, fw), mode="bilinear", align_corners=False)
    return prior


def _confidence_levels(confidence: torch.Tensor, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The confidence map at the size of each encoder level: averaged over each level pixel's area where the level
    is smaller (as the encoder's strided convolutions summarise the prior), resized bilinearly otherwise."""
    levels, done = [], {}
    h, w = confidence.shape[-2:]
    for feat in feats:
        size = tuple(feat.shape[-2:])
        if size not in done:
            if size == (h, w):
                done[size] = confidence
            elif size[0] <= h and size[1] <= w:
                done[size] = F.adaptive_avg_pool2d(confidence, size)
            else:
                done[size] = F.interpolate(confidence, size=size, mode="bilinear", align_corners=False)
        levels.append(done[size])
    return levels


def _takes_confidence(block: nn.Module) -> bool:
    """Whether ``block``'s forward accepts a ``confidence`` keyword (by name, or through ``**kwargs``)."""
    try:
        params = inspect.signature(block.forward).parameters.values()
    except (TypeError, ValueError):  # no signature to read: apply the gate outside, which is always right
        return False
    return any(p.kind is p.VAR_KEYWORD or (p.name == "confidence" and p.kind is not p.POSITIONAL_ONLY)
               for p in params)


# ----------------------------------------------------------------------------------------------------------------
# The branch


def _plain_gate_when_missing(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """A branch saved before the learnt confidence power (no ``confidence_log_power``) was trained with the plain
    gate: it loads with the power 1 (log 0), which reproduces it exactly."""
    key = prefix + "confidence_log_power"
    if key not in state_dict and any(k.startswith(prefix) for k in state_dict):
        state_dict[key] = torch.zeros(())


class _PointFusion(nn.Module):
    """One attach point: its fusion block, and the forward hook (a bound method, so ``deepcopy`` re-binds it).

    A block whose ``forward`` takes ``confidence`` gates its own update; for one that does not (a user's block),
    the hook gates ``feat + confidence * (block(feat) - feat)`` itself. Which is decided once, here. With
    ``confidence_power`` the confidence is first sharpened, ``c ** p`` with ``p`` learnt (its log is the parameter
    ``confidence_log_power``; :func:`~gpt4o_prior.fusion.sharpen_confidence`): zero stays zero, one stays one.
    """

    def __init__(self, point: AttachPoint, block: nn.Module, ctx: _Context, input_level: bool,
                 confidence_power: float | None = None):
        super().__init__()
        self.block = block
        self.point = point
        self.input_level = input_level
        self.ctx = ctx
        self.takes_confidence = _takes_confidence(block)
        if confidence_power is None:
            self.confidence_log_power = None
        else:
            self.confidence_log_power = nn.Parameter(torch.full((), math.log(confidence_power)))
            self.register_load_state_dict_pre_hook(_plain_gate_when_missing)

    def hook(self, module: nn.Module, args: tuple, output: Any):
        ctx = self.ctx
        if ctx.feats is None:
            return None
        layout = self.point.layout
        if not isinstance(output, torch.Tensor) or output.dim() != (3 if layout == "BNC" else 4):
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            want = {"BNC": "(B, N, C) tokens", "BHWC": "a (B, H, W, C) tensor"}.get(layout, "a (B, C, H, W) tensor")
            raise TypeError(
                f"attach point {self.point.path!r} returned {got}; its fusion needs {want} (as in the dry run). "
                "Choose other modules with attach_prior(..., at=[...])"
            )
        if layout == "BHWC":  # fused as a (B, C, H, W) map, handed back channels-last
            return self._fuse(output.permute(0, 3, 1, 2), args).permute(0, 2, 3, 1)
        if layout == "BNC":  # fused on the input's grid at this point's stride, handed back as tokens
            grid = None if ctx.input_size is None else token_grid(output.shape[1], ctx.input_size, self.point.stride)
            if grid is None:
                raise ValueError(
                    f"attach point {self.point.path!r} returned {output.shape[1]} tokens, which are not the grid of "
                    f"a {ctx.input_size} input at stride {self.point.stride:g}; choose a (B, C, H, W) module with "
                    "attach_prior(..., at=[...])"
                )
            feat = output.transpose(1, 2).reshape(output.shape[0], output.shape[2], *grid)
            return self._fuse(feat, args).flatten(2).transpose(1, 2)
        return self._fuse(output, args)

    def _fuse(self, output: torch.Tensor, args: tuple) -> torch.Tensor:
        """The point's fused (B, C, H, W) features: block, confidence gate, prior scale."""
        ctx = self.ctx
        prior = ctx.feats[self.point.level]
        kw = {}
        if self.input_level:
            size = args[0].shape[-2:]
            kw.update(prior=_fit(prior, ctx.input_size, size, 1.0), input_size=size)
        else:
            kw.update(prior=_fit(prior, ctx.input_size, output.shape[-2:], self.point.stride))
        conf = None
        if ctx.confidence is not None:  # gates the block's update at the block's output
            conf = _fit(ctx.confidence[self.point.level], ctx.input_size, output.shape[-2:], self.point.stride)
            if self.confidence_log_power is not None:
                conf = sharpen_confidence(conf, self.confidence_log_power)
            if self.takes_confidence:
                kw["confidence"] = conf
        fused = self.block(output, **kw)
        if conf is not None and not self.takes_confidence:
            fused = gate_update(output, fused, conf.to(output.dtype))
        if conf is None and self.confidence_log_power is not None:
            # no map: trusted everywhere, the gate 1 ** p = 1, whose gradient is 0; kept in the graph all the same
            # so that every parameter gets a gradient (DistributedDataParallel requires it)
            fused = fused + 0 * self.confidence_log_power.to(fused.dtype)
        scale = ctx.scale
        if isinstance(scale, torch.Tensor):  # per sample (prior_keep): 0 leaves that sample's features alone
            return output + (fused - output) * scale.to(output.dtype).view(-1, *([1] * (output.dim() - 1)))
        return fused if scale == 1.0 else output + (fused - output) * scale

    def extra_repr(self) -> str:
        p = self.point
        layout = "" if p.layout == "BCHW" else f", layout={p.layout!r}"
        return f"path={p.path!r}, channels={p.channels}, stride={p.stride:g}, level={p.level}{layout}"


class PriorBranch(nn.Module):
    """The prior branch: an encoder (``None`` for the input-level adapter) and one fusion block per attach point.

    Its ``state_dict()`` is what :meth:`PriorNet.prior_state_dict` returns: ``encoder.*`` and
    ``points.<path with '.' as '__'>.block.*``.
    """

    def __init__(self, encoder: nn.Module | None, points: Mapping[str, _PointFusion]):
        super().__init__()
        self.encoder = encoder
        self.points = nn.ModuleDict(points)

    def encode(self, prior: torch.Tensor) -> list[torch.Tensor]:
        """Features of the prior image (the image itself, as a one-level list, when there is no encoder)."""
        if self.encoder is None:
            return [prior]
        feats = self.encoder(prior)
        return list(feats)


# ----------------------------------------------------------------------------------------------------------------
# The wrapper


class PriorNet(nn.Module):
    """A host network with a prior branch attached; build it with :func:`attach_prior`.

    Attributes:
        host: the wrapped network (its own module paths and parameter names are unchanged).
        branch: the :class:`PriorBranch`.
        attach_points: module paths of the host where fusion happens, in the order the host runs them.
        points: the :class:`AttachPoint` records (path, channels, stride, level).
        prior_scale: fidelity knob, settable at any time: 1.0 uses the fused features, 0.0 runs the host alone,
            values between blend ``feat + s * (fused - feat)``.
        prior_channels: channels the prior image must have.
        fusion: the fusion kind's name (or the class / callable given).

    Shape:
        - x: what the host takes, usually (B, C, H, W)
        - prior: (B, prior_channels, H', W'), an image in the same value range as ``x``; any H', W'
        - confidence: (B, 1, H', W') or (B, H', W') in [0, 1], optional (``None``: trust the prior everywhere);
          usually of the prior's size, any size is resized
        - output: what the host returns

    Example:
        >>> host = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Sequential(nn.Conv2d(8, 8, 3, padding=1),
        ...                      nn.ReLU()), nn.Conv2d(8, 3, 3, padding=1))
        >>> net = attach_prior(host, fusion="sft")
        >>> net.attach_points
        ['1']
        >>> x, p = torch.rand(2, 3, 12, 12), torch.rand(2, 3, 24, 24)
        >>> torch.allclose(net(x, prior=p), host(x))  # the identity at initialisation
        True
        >>> conf = torch.zeros(2, 1, 24, 24)  # the prior's confidence map; zero: trust it nowhere
        >>> torch.equal(net(x, prior=p, confidence=conf), host(x))  # exactly the host, trained or not
        True
        >>> sorted(net.state_dict())[:2]
        ['branch.encoder.blocks.0.dw.bias', 'branch.encoder.blocks.0.dw.weight']
        >>> net.detach() is host
        True
    """

    def __init__(self, host: nn.Module, branch: PriorBranch, points: Sequence[AttachPoint], *, prior_channels: int,
                 fusion: Any, prior_scale: float = 1.0, ctx: _Context):
        super().__init__()
        self.host = host
        self.branch = branch
        self.points = list(points)
        self.prior_channels = int(prior_channels)
        self.fusion = fusion
        self.prior_scale = float(prior_scale)
        self._ctx = ctx
        ctx.owner = self
        self._detached = False
        modules = dict(host.named_modules())
        # the handles remove exactly these hooks on detach (they survive deepcopy: a copy's handles point into
        # the copy's hook dictionaries, e.g. BasicSR's EMA network)
        self._hook_handles = [modules[point.path].register_forward_hook(branch.points[_key(point.path)].hook)
                              for point in self.points]

    @property
    def attach_points(self) -> list[str]:
        return [p.path for p in self.points]

    # -- forward --------------------------------------------------------------------------------------------------

    def forward(self, x: Any, prior: torch.Tensor | None = None, *, confidence: torch.Tensor | None = None,
                prior_keep: torch.Tensor | None = None, **kwargs) -> Any:
        """Run the host; with ``prior`` (and ``prior_scale != 0``) its attach points are fused with the prior.

        Args:
            x: the host's input.
            prior: the prior image (B, prior_channels, H', W') or ``None`` for the host alone.
            confidence: optional per-pixel trust in the prior, (B, 1, H', W') or (B, H', W') in [0, 1], as the prior
                cache stores it beside the aligned prior (from its dense alignment). It is averaged down to each
                encoder level and brought to each attach point's geometry as the prior features are; every block's
                update is scaled by it (0 = the host's own features there). ``None`` trusts the prior everywhere.
                Ignored when ``prior`` is ``None``.
            prior_keep: optional (B,) tensor of per-sample weights, 1 = use the prior, 0 = this sample's features
                stay exactly the host's (prior dropout with ``dropout_fill: none``); multiplies ``prior_scale``
                (and the confidence: a point outputs ``feat + prior_scale * prior_keep * confidence * (fused -
                feat)``).
            **kwargs: passed on to the host.

        Raises:
            ValueError: a prior, confidence or prior_keep of the wrong shape or batch size; the message names it.
        """
        if self._detached:
            raise RuntimeError("this PriorNet was detached from its host; use the host that detach() returned")
        if self._ctx.owner is not self:
            raise RuntimeError(
                "PriorNet was replicated without its hooks (torch.nn.DataParallel does this); "
                "use DistributedDataParallel, or one device"
            )
        scale = float(self.prior_scale)
        if prior is None or scale == 0.0:
            return self.host(x, **kwargs)
        check_shape(prior, ["B", self.prior_channels, "H", "W"], "prior")
        if isinstance(x, torch.Tensor):
            check_same_batch(x, prior, ("x", "prior"))
            if x.is_floating_point():
                prior = prior.to(x.dtype)
        if confidence is not None:
            confidence = check_confidence(confidence)
            check_same_batch(prior, confidence, ("prior", "confidence"))
            confidence = confidence.to(device=prior.device,
                                       dtype=prior.dtype if prior.is_floating_point() else torch.float32)
        if prior_keep is not None:  # every input checked before the context is set
            check_shape(prior_keep, ["B"], "prior_keep")
            check_same_batch(prior, prior_keep, ("prior", "prior_keep"))
        ctx = self._ctx
        ctx.scale = scale if prior_keep is None else prior_keep.to(prior.device, torch.float32) * scale
        ctx.input_size = tuple(x.shape[-2:]) if isinstance(x, torch.Tensor) and x.dim() >= 2 else None
        try:
            ctx.feats = self.branch.encode(prior)
            ctx.confidence = None if confidence is None else _confidence_levels(confidence, ctx.feats)
            return self.host(x, **kwargs)
        finally:
            ctx.feats = ctx.confidence = None

    # -- parameters and checkpoints -------------------------------------------------------------------------------

    def branch_parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """Parameters of the prior branch only (to train it alone, or give it its own learning rate)."""
        return self.branch.parameters(recurse)

    def host_parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """Parameters of the host only."""
        return self.host.parameters(recurse)

    def freeze_host(self, freeze: bool = True) -> "PriorNet":
        """Set ``requires_grad = not freeze`` on every host parameter; returns ``self``."""
        for p in self.host.parameters():
            p.requires_grad_(not freeze)
        return self

    def prior_state_dict(self) -> dict[str, torch.Tensor]:
        """The prior branch's state alone (keys as in :class:`PriorBranch`, without the ``branch.`` prefix)."""
        return self.branch.state_dict()

    def load_prior_state_dict(self, state_dict: Mapping[str, torch.Tensor], strict: bool = True):
        """Load a state from :meth:`prior_state_dict` (a whole ``PriorNet.state_dict()`` is accepted too: its
        ``branch.*`` keys are used).

        Raises:
            RuntimeError: with ``strict``, keys that do not match, with a hint of why.
        """
        sd = dict(state_dict)
        if any(k.startswith("branch.") for k in sd):
            sd = {k[len("branch."):]: v for k, v in sd.items() if k.startswith("branch.")}
        try:
            return self.branch.load_state_dict(sd, strict=strict)
        except RuntimeError as err:
            raise RuntimeError(
                f"the prior branch state does not fit this PriorNet (attach points {self.attach_points}, fusion "
                f"{self.fusion!r}): it was saved from another host, other attach points, another fusion kind or "
                f"other block settings.\n{err}"
            ) from None

    def load_host_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> HostLoadReport:
        """Load a checkpoint of the bare host into the wrapped host, strict about nothing.

        Keys may carry a ``host.`` (a PriorNet's state) or ``module.`` (a DDP-wrapped host) prefix. Tensors whose
        shape differs are skipped and reported.

        Returns:
            A :class:`HostLoadReport` with ``loaded``, ``missing``, ``unexpected`` and ``mismatched`` key lists;
            ``report.ok`` tells whether the host's own weights loaded.
        """
        own = self.host.state_dict()
        report = HostLoadReport()
        take = {}
        for key, value in state_dict.items():
            for prefix in ("module.", "host."):
                if key.startswith(prefix):
                    key = key[len(prefix):]
            if key not in own:
                report.unexpected.append(key)
            elif not isinstance(value, torch.Tensor) or value.shape != own[key].shape:
                report.mismatched.append(key)
            else:
                take[key] = value
        self.host.load_state_dict(take, strict=False)
        report.loaded = [k for k in own if k in take]
        report.missing = [k for k in own if k not in take and k not in report.mismatched]
        return report

    # -- undo -----------------------------------------------------------------------------------------------------

    def detach(self) -> nn.Module:
        """Remove the hooks and return the host, behaving exactly as before :func:`attach_prior`.

        This ``PriorNet`` cannot run afterwards.
        """
        if not self._detached:
            for handle in self._hook_handles:
                handle.remove()
            self._hook_handles = []
            self._detached = True
        return self.host

    def extra_repr(self) -> str:
        return f"fusion={self.fusion!r}, attach_points={self.attach_points}, prior_scale={self.prior_scale:g}"


# ----------------------------------------------------------------------------------------------------------------
# The entry point


def _check_runs_in_training(model: nn.Module, x: torch.Tensor, paths: Sequence[str]) -> None:
    """Refuse an input-level point that a train-mode forward does not run (the eval-only fused copy of a
    re-parameterisable convolution: widening it would train nothing). Checked on a copy of the host, so the host
    itself is untouched; a host that cannot run that way on the example is not judged."""
    twin = copy.deepcopy(model)
    modules = dict(twin.named_modules())
    ran: set[str] = set()
    handles = [modules[p].register_forward_hook(lambda m, a, o, p=p: ran.add(p)) for p in paths]
    for m in twin.modules():
        m.training = True
    try:
        with torch.no_grad():
            twin(x)
    except Exception:  # e.g. batch norm on a (1, C, 1, 1) map in training mode: nothing to conclude
        return
    finally:
        for h in handles:
            h.remove()
    idle = [p for p in paths if p not in ran]
    if idle:
        raise ValueError(
            f"{type(model).__name__}'s convolution {idle[0]!r} runs only in eval mode (a re-parameterised copy that "
            "a train-mode forward replaces), so the input-level adapter would train nothing; use a feature-level "
            "fusion (fusion='sft', 'concat', ...) for this host"
        )


def attach_prior(model: nn.Module, at: str | Sequence[str] = "auto", fusion: str | type | Callable = "sft",
                 encoder: nn.Module | str | None = None, prior_scale: float = 1.0, *,
                 example_input: torch.Tensor | None = None, prior_channels: int = 3,
                 input_channels: int | None = None,
                 confidence_power: float | None = DEFAULT_CONFIDENCE_POWER, **fusion_kwargs) -> PriorNet:
    """Wrap ``model`` with a prior branch fused at named layers; the model itself is not edited.

    Args:
        model: the host network (any ``nn.Module`` taking an image batch).
        at: ``"auto"`` (see :func:`auto_attach_points`) or a list of module paths whose outputs are fused. With
            ``fusion="input_concat"``, ``"auto"`` is the first convolution reading the input.
        fusion: a registered fusion name (``gpt4o_prior.list_fusions()``), a block class or a callable
            ``(channels, prior_channels, **kw) -> nn.Module``. ``"input_concat"`` widens the first convolution
            to read the prior image instead (no encoder).
        encoder: ``None`` (a :class:`PriorEncoder` pyramid with as many levels as the attach points need), a timm
            model name (``PriorEncoder(backbone=name)``, not pretrained), or a module following the encoder
            protocol (``channels``, ``strides``, returns a list).
        prior_scale: initial :attr:`PriorNet.prior_scale`.
        example_input: the input of the dry run that measures each point's channels and stride (default: a
            (1, C, 64, 64) ramp image on the host's device and dtype, C from ``input_channels``, from an attribute
            the host declares (``in_chans``, ``in_nc``, ``inp_channels``, ...), or else 3, then the first
            convolution's input channels if the host refuses 3; see :func:`~gpt4o_prior.attach_points.find_example`).
            Give it for a host whose input is not an image batch of that kind.
        prior_channels: channels of the prior image (3: an RGB prior, whatever the host's input is, e.g. an image
            plus a noise-level map).
        input_channels: the host's input channels, for the default example (when it declares none, or another).
        confidence_power: initial exponent ``p`` of each point's learnt confidence gate ``c ** p``
            (:func:`~gpt4o_prior.fusion.sharpen_confidence`; default 0.5: correct priors that the confidence
            under-rates still pass, zero confidence still gives the host's features); ``None``: the plain gate
            ``c`` with no parameter (what branches saved before it were trained with). Used only when a
            confidence map is given.
        **fusion_kwargs: passed to every fusion block (e.g. ``window=8, halo=3`` for ``cross_attention``).

    Returns:
        The :class:`PriorNet`; its output equals the host's (to float tolerance) until the branch is trained.

    Raises:
        KeyError: an unknown module path or fusion name.
        ValueError / TypeError: a point that does not output (B, C, H, W) features, or nothing to attach to.

    Example:
        >>> host = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
        >>> net = attach_prior(host, fusion="input_concat")
        >>> net.attach_points, net.branch.encoder is None
        (['0'], True)
        >>> x = torch.rand(1, 3, 9, 9)
        >>> torch.equal(net(x, prior=torch.rand(1, 3, 9, 9)), host(x))
        True
    """
    if isinstance(model, PriorNet):
        raise TypeError("the model already has a prior branch; detach() it first or attach to its .host")
    if confidence_power is not None and not (isinstance(confidence_power, (int, float))
                                             and not isinstance(confidence_power, bool) and confidence_power > 0):
        raise ValueError(f"confidence_power must be a number > 0 (the gate's initial exponent) or None (the plain "
                         f"gate), got {confidence_power!r}")
    builder = get_fusion_class(fusion)
    input_level = getattr(builder, "attaches_to", "features") == "input"
    if example_input is not None:
        check_shape(example_input, ["B", "C", "H", "W"], "example_input")
    if not (isinstance(prior_channels, int) and not isinstance(prior_channels, bool) and prior_channels > 0):
        raise ValueError(f"prior_channels must be a positive int (3 for an RGB prior), got {prior_channels!r}")
    if isinstance(at, str):
        if at != "auto":
            raise ValueError(f"at must be 'auto' or a list of module paths, got {at!r} (for one path use [{at!r}])")
        paths = None
    else:
        paths = check_paths(model, at)
        if not paths:
            raise ValueError("at is an empty list; give module paths or 'auto'")

    x, calls, out = find_example(model, example_input, prior_channels=prior_channels, input_channels=input_channels)
    if paths is None:
        if input_level:
            paths = [first_conv(calls, x.shape[1])]
        else:
            declared = getattr(model, "prior_attach_points", None)
            paths = check_paths(model, declared) if declared else points_from_calls(calls, out)
            if not paths:
                raise ValueError(f"attach_prior found no (B, C, H, W) features in {type(model).__name__}; "
                                 "name the modules with at=[...]")
    first = {}
    for c in calls:
        first.setdefault(c.path, c)  # first call of each module
    runs = call_counts(calls)
    for path in paths:
        if path not in first:
            raise ValueError(f"module {path!r} did not run in the dry run of {type(model).__name__}; "
                             "choose modules the forward pass uses")
        if runs[path] > 1 and not input_level:
            raise ValueError(f"module {path!r} runs {runs[path]} times in one forward of {type(model).__name__} "
                             "(shared across patches, stages or iterations), so one prior map cannot fit each call; "
                             "choose a module that runs once")
        if first[path].shape is None:
            raise ValueError(f"module {path!r} does not output a (B, C, H, W) tensor (or (B, N, C) tokens on the "
                             "input's grid); fusion needs feature maps")
    order = {c.path: i for i, c in enumerate(calls)}
    paths = sorted(paths, key=lambda p: order[p])
    if input_level:
        _check_runs_in_training(model, x, paths)

    strides = {p: x.shape[-2] / first[p].shape[-2] for p in paths}
    if input_level:
        enc = None
    elif encoder is None:
        levels = 1 + max(max(0, round(math.log2(s))) for s in strides.values())
        enc = PriorEncoder(prior_channels, levels=levels)
    elif isinstance(encoder, str):
        enc = PriorEncoder(prior_channels, backbone=encoder)
    elif isinstance(encoder, nn.Module):
        enc = encoder
        for attr in ("channels", "strides"):
            if not hasattr(enc, attr):
                raise TypeError(f"encoder {type(enc).__name__} needs a {attr!r} attribute (see PriorEncoder)")
        prior_channels = getattr(enc, "in_channels", prior_channels)
    else:
        raise TypeError(f"encoder must be None, a timm model name or an nn.Module, got {type(encoder).__name__}")

    ref = x
    ctx = _Context(owner=None)
    points, fusers = [], {}
    for path in paths:
        channels = first[path].shape[1]
        if input_level:
            point = AttachPoint(path, channels, 1.0, 0)
            conv = first[path].module
            if not isinstance(conv, nn.Conv2d):
                raise TypeError(f"fusion='input_concat' attaches to an nn.Conv2d; {path!r} is a "
                                f"{type(conv).__name__}")
            make = getattr(builder, "from_conv", None)
            block = make(conv, prior_channels, **fusion_kwargs) if make else builder(
                channels, prior_channels, **fusion_kwargs)
        else:
            level = nearest_level(enc.strides, strides[path])
            point = AttachPoint(path, channels, strides[path], level, first[path].layout)
            block = create_fusion(fusion, channels, enc.channels[level], **fusion_kwargs)
        key = _key(path)
        if key in fusers:
            raise ValueError(f"attach points {path!r} and {fusers[key].point.path!r} collide as {key!r}")
        fusers[key] = _PointFusion(point, block, ctx, input_level, confidence_power)
        points.append(point)
    branch = PriorBranch(enc, fusers).to(device=ref.device, dtype=ref.dtype)
    kind = fusion if isinstance(fusion, str) else getattr(fusion, "__name__", fusion)
    return PriorNet(model, branch, points, prior_channels=prior_channels, fusion=kind, prior_scale=prior_scale,
                    ctx=ctx)
