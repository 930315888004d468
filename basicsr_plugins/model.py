"""``PriorSRModel``: BasicSR's ``SRModel`` that feeds each batch's ``prior`` to the network.

Everything else is ``SRModel``'s: losses, EMA, validation, metrics, saving. What changes:

* ``feed_data`` keeps ``data['prior']``; training, validation, ``test()`` and the EMA network all receive it;
  a training batch that also carries ``prior_dropped`` (``dropout_mode: pair``) is doubled: each sample once with
  its prior and once dropped, so the loss averages both; ``prior_keep`` flags (``dropout_fill: none``) reach the
  network as ``prior_keep=``, so a dropped sample runs through the host alone;
* ``data['prior_confidence']`` (the prior's per-pixel confidence, (B, 1, H, W), which the prior datasets yield
  unless ``prior: {confidence: false}``) reaches the network as ``confidence=`` wherever the prior does
  (training, both halves of a ``pair`` batch, validation, ``test()``, the EMA network, the ensemble); a batch
  without it runs as before (the prior trusted everywhere);
* ``test()`` runs an 8-fold flip / rotation ensemble when ``val: {self_ensemble: true}``, transforming the prior
  (and its confidence) exactly as the input;
* ``path.pretrain_network_g`` may be a checkpoint of the bare host (no prior branch): its weights are found under
  ``params`` / ``params_ema`` (or at the top level), loaded into the host, and one report is logged. Training stops
  with an error when the host's own weights did not load. The EMA network starts from the loaded weights, branch
  included. Checkpoints of the wrapped network (resuming, fine-tuning) load as usual;
* host parameters frozen by ``freeze_host`` give one summary line, not one warning each;
* narrow fixes of BasicSR 1.4.2 gaps: DistributedDataParallel on the CPU (gloo), ``train.optim_g.type`` may
  name any ``torch.optim`` optimizer (1.4.2 accepts only ``Adam``), and ``train.scheduler.type`` may be the
  recipes' ``CosineAnnealingRestartCyclicLR`` or ``TrueCosineAnnealingLR`` (:mod:`.schedulers`);
* several GPUs need ``--launcher pytorch`` (DistributedDataParallel): ``num_gpu > 1`` without a launcher
  (BasicSR's DataParallel) is refused before training, since DataParallel replicas lose the branch's hooks.
"""
from __future__ import annotations

from contextlib import contextmanager
from copy import deepcopy
from typing import Any, Iterator

import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from torch.nn.parallel import DistributedDataParallel

from gpt4o_prior.augment import ALL_FLIP_ROTS, apply_flip_rot, undo_flip_rot

from .registration import register
from .schedulers import RecipeModelMixin

__all__ = ["PriorSRModel", "pick_state_dict"]


def pick_state_dict(ckpt: Any, param_key: str | None = "params") -> tuple[dict, str | None]:
    """Find the weights in a loaded checkpoint: under ``param_key``, else ``params``, else ``params_ema``, else
    the checkpoint itself when it is a plain state dict. A leading ``module.`` is stripped from every key.

    Returns:
        ``(state dict, the key it was found under or None)``.

    Raises:
        KeyError: no weights found; the message lists the checkpoint's top-level keys.

    Example:
        >>> sd, key = pick_state_dict({"params_ema": {"module.w": torch.zeros(1)}})
        >>> key, list(sd)
        ('params_ema', ['w'])
    """
    if not isinstance(ckpt, dict):
        raise KeyError(f"a checkpoint must be a dict of weights, got {type(ckpt).__name__}")
    key = None
    for candidate in (param_key, "params", "params_ema"):
        if candidate and isinstance(ckpt.get(candidate), dict):
            key = candidate
            break
    sd = ckpt[key] if key else ckpt
    if not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise KeyError(f"no weights found in the checkpoint: looked under {param_key!r}, 'params', 'params_ema' "
                       f"and the top level (top-level keys: {sorted(ckpt)[:10]})")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}, key


def _brief(names: list[str], n: int = 5) -> str:
    return "[]" if not names else "[" + ", ".join(names[:n]) + (", ..." if len(names) > n else "") + "]"


@register(MODEL_REGISTRY)
class PriorSRModel(RecipeModelMixin, SRModel):
    """``SRModel`` whose network takes ``net(lq, prior=prior)``; see the module docstring.

    Needs a prior-wrapped ``network_g`` (``type: G4PPriorNet``) and datasets that yield ``prior``
    (``PriorPairedImageDataset`` / ``PriorSingleImageDataset``); the one-line ``prior:`` option sets up all three.
    """

    prior: torch.Tensor | None = None
    prior_keep: torch.Tensor | None = None  # (B,): 0 runs that sample without its prior (dropout_fill none)
    prior_confidence: torch.Tensor | None = None  # (B, 1, H, W) in [0, 1], or None: trust the prior everywhere

    # ------------------------------------------------------------------ building
    def model_to_device(self, net: torch.nn.Module) -> torch.nn.Module:
        if not (hasattr(net, "host") and hasattr(net, "load_host_state_dict")):
            raise TypeError(f"model_type PriorSRModel needs a prior-wrapped network_g (type: G4PPriorNet with "
                            f"host: <your network>, or the top-level line prior: {{cache: ..., set: ...}}); got "
                            f"{type(net).__name__}")
        if not self.opt["dist"] and self.opt["num_gpu"] > 1:
            # BasicSR would wrap the network in DataParallel, whose replicas lose the prior branch's hooks
            raise ValueError(f"num_gpu: {self.opt['num_gpu']} without a launcher means DataParallel, which a prior "
                             f"network cannot use: train on several GPUs with torchrun ... --launcher pytorch, or "
                             f"set num_gpu: 1")
        if self.opt["dist"] and self.device.type == "cpu":
            # BasicSR 1.4.2 passes device_ids=[torch.cuda.current_device()], which fails without CUDA:
            # on the CPU (gloo backend) DistributedDataParallel takes no device_ids.
            return DistributedDataParallel(
                net.to(self.device), find_unused_parameters=self.opt.get("find_unused_parameters", False))
        return super().model_to_device(net)

    def setup_optimizers(self) -> None:
        train_opt = self.opt["train"]
        named = list(self.get_bare_model(self.net_g).named_parameters())
        params = [p for _, p in named if p.requires_grad]
        frozen = [p for _, p in named if not p.requires_grad]
        if frozen:  # one line instead of SRModel's warning per parameter
            get_root_logger().info(
                f"Prior branch only: optimizing {len(params)} tensors ({sum(p.numel() for p in params):,d} "
                f"values); {len(frozen)} host tensors ({sum(p.numel() for p in frozen):,d} values) are frozen "
                f"(requires_grad=False).")
        optim_opt = dict(train_opt["optim_g"])
        optim_type = optim_opt.pop("type")
        self.optimizer_g = self.get_optimizer(optim_type, params, **optim_opt)
        self.optimizers.append(self.optimizer_g)

    # ------------------------------------------------------------------ loading
    def load_network(self, net: torch.nn.Module, load_path: str, strict: bool = True,
                     param_key: str | None = "params") -> None:
        logger = get_root_logger()
        bare = self.get_bare_model(net)
        ckpt = torch.load(load_path, map_location="cpu", weights_only=True)
        sd, found = pick_state_dict(ckpt, param_key)
        own = bare.state_dict()
        host_keys = {"host." + k for k in bare.host.state_dict()}
        n_wrapped = sum(k in own for k in sd)
        n_bare = sum(("host." + k) in host_keys for k in sd)
        is_ema = net is getattr(self, "net_g_ema", None)
        if n_wrapped >= n_bare and n_wrapped > 0:  # a checkpoint of the wrapped network (resume / fine-tune)
            logger.info(f"Loading {type(bare).__name__} (with prior branch) from {load_path} [{found}].")
            self._print_different_keys_loading(bare, sd, strict)
            try:
                bare.load_state_dict(sd, strict=strict)
            except RuntimeError as err:
                raise RuntimeError(
                    f"{load_path} [{found}] holds a network with a prior branch that does not fit network_g: it "
                    f"was trained with other host arguments, attach points (at), fusion or encoder options. Use the "
                    f"network_g / prior: options it was trained with.\n{err}") from None
            return
        report = bare.load_host_state_dict(sd)
        loaded, unexpected = list(report.loaded), list(report.unexpected)
        missing = list(report.missing) + [f"{k} (shape differs)" for k in getattr(report, "mismatched", [])]
        total = len(loaded) + len(missing)
        if not loaded or (missing and strict):
            raise RuntimeError(
                f"the host's own weights did not load from {load_path} [{found}]: {len(loaded)}/{total} host "
                f"tensors loaded, missing {_brief(missing)}, unexpected {_brief(unexpected)}. Check that "
                f"network_g (its host) has the architecture and arguments the checkpoint was trained with, "
                f"or set path.strict_load_g: false to accept a partial load.")
        if is_ema:  # the EMA network starts from the loaded network, prior branch included
            branch = {k: v for k, v in self.get_bare_model(self.net_g).state_dict().items() if k not in host_keys}
            bare.load_state_dict({**bare.state_dict(), **deepcopy(branch)})
            logger.info(f"EMA network: host from {load_path} [{found}] ({len(loaded)}/{total} tensors), prior "
                        f"branch copied from net_g.")
            return
        logger.info(f"Pretrained host from {load_path} [{found}]: host tensors loaded {len(loaded)}/{total}, "
                    f"missing {len(missing)} {_brief(missing)}, unexpected {len(unexpected)} {_brief(unexpected)}; "
                    f"the prior branch starts at identity.")
        if missing:
            logger.warning(f"strict_load_g is false: training with {len(missing)} host tensors NOT loaded.")

    # ------------------------------------------------------------------ running
    def feed_data(self, data: dict) -> None:
        super().feed_data(data)
        if "prior" not in data:
            raise KeyError("the batch has no 'prior': PriorSRModel needs a prior dataset "
                           "(PriorPairedImageDataset / PriorSingleImageDataset, or the top-level prior: line)")
        self.prior = data["prior"].to(self.device)
        keep = data.get("prior_keep")
        conf = data.get("prior_confidence")
        if "prior_dropped" in data:  # dropout_mode pair: each sample with its prior and dropped
            n = self.prior.shape[0]
            dropped = data["prior_dropped"].to(self.device)
            self.prior = torch.cat([self.prior, dropped])
            self.lq = torch.cat([self.lq, self.lq])
            if hasattr(self, "gt"):
                self.gt = torch.cat([self.gt, self.gt])
            dropped_keep = data.get("prior_dropped_keep")
            if keep is not None or dropped_keep is not None:
                keep = torch.cat([torch.ones(n) if keep is None else keep,
                                  torch.ones(n) if dropped_keep is None else dropped_keep])
            dropped_conf = data.get("prior_dropped_confidence")
            if conf is not None or dropped_conf is not None:  # a half without one: trusted everywhere (ones)
                ones = torch.ones(n, 1, *dropped.shape[-2:])
                conf = torch.cat([(ones if conf is None else conf).to(self.device),
                                  (ones if dropped_conf is None else dropped_conf).to(self.device)])
        self.prior_keep = None if keep is None else keep.to(self.device, torch.float32)
        self.prior_confidence = None if conf is None else conf.to(self.device, torch.float32)

    @contextmanager
    def _feeding_prior(self) -> Iterator[None]:
        """While inside, calling ``net_g`` / ``net_g_ema`` with ``lq`` alone passes ``prior=self.prior`` (and
        ``prior_keep`` / ``confidence`` when the batch carries them).

        This lets SRModel's own ``optimize_parameters`` and ``test`` run unchanged (they call ``net(lq)``).
        """
        def add_prior(module, args, kwargs):
            if "prior" not in kwargs and len(args) < 2:
                kwargs = {**kwargs, "prior": self.prior}
                if self.prior_keep is not None and "prior_keep" not in kwargs:
                    kwargs["prior_keep"] = self.prior_keep
                if self.prior_confidence is not None and "confidence" not in kwargs:
                    kwargs["confidence"] = self.prior_confidence
            return args, kwargs

        nets = [self.get_bare_model(self.net_g)] + ([self.net_g_ema] if hasattr(self, "net_g_ema") else [])
        handles = [n.register_forward_pre_hook(add_prior, with_kwargs=True) for n in nets]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def optimize_parameters(self, current_iter: int) -> None:
        with self._feeding_prior():
            super().optimize_parameters(current_iter)

    def test(self) -> None:
        if (self.opt.get("val") or {}).get("self_ensemble"):
            self.test_selfensemble()
            return
        with self._feeding_prior():
            super().test()

    def test_selfensemble(self) -> None:
        """Average the outputs over the 8 flips / rotations, applied alike to the input, the prior and its
        confidence."""
        net = self.net_g_ema if hasattr(self, "net_g_ema") else self.net_g
        net.eval()
        conf = self.prior_confidence
        with torch.no_grad():
            outs = []
            for op in ALL_FLIP_ROTS:
                kw = {} if conf is None else {"confidence": apply_flip_rot(conf, op)}
                y = net(apply_flip_rot(self.lq, op), prior=apply_flip_rot(self.prior, op), **kw)
                outs.append(undo_flip_rot(y, op))
        self.output = torch.stack(outs).mean(0)
        if not hasattr(self, "net_g_ema"):
            self.net_g.train()
