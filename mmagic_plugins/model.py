"""``PriorEditModel``: MMagic's ``BaseEditModel`` whose generator takes the prior as a second input.

MMagic's ``BaseEditModel.forward`` keeps ``inputs['img']`` and drops every other input key, so a prior packed by
``PackInputs(keys=['img', 'prior'])`` never reaches the generator. ``PriorEditModel`` wraps the generator with
:func:`gpt4o_prior.attach.attach_prior` and hands ``inputs['prior']`` to it in the ``tensor``, ``predict`` and
``loss`` modes; everything else (losses, data preprocessing, output destruction) is ``BaseEditModel``'s.
The prior's per-pixel confidence, packed as ``inputs['prior_confidence']`` (``LoadPrior`` loads it unless
``prior = dict(..., confidence=False)``), reaches the generator as ``confidence=`` wherever the prior does; the
model makes it a non-image key of its ``DataPreprocessor`` (stacked, never normalised or channel-swapped).

Checkpoints: a checkpoint of the plain MMagic model (``generator.<host key>``) loads into the wrapped model
(``generator.host.<host key>``): the keys are mapped on load, the count is logged, and the prior branch keeps its
identity initialisation, so the wrapped model starts out computing exactly what the pretrained one did.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Mapping, Sequence

import torch
from mmengine.logging import print_log

from gpt4o_prior.checks import check_same_batch, check_shape

from .registry import MODELS, register

with warnings.catch_warnings():  # MMagic imports diffusers, which warns about its own deprecations
    warnings.simplefilter("ignore")
    from mmagic.models import BaseEditModel

__all__ = ["PriorEditModel", "PriorInputMissingError"]

HOST = "host."
"""State-dict prefix of the host network inside the wrapped generator (``attach_prior``'s layout)."""


class PriorInputMissingError(KeyError):
    """The model was called without ``inputs['prior']`` although it requires one."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


@register(MODELS)
class PriorEditModel(BaseEditModel):
    """``BaseEditModel`` with a prior branch on its generator.

    Args:
        generator: config of the host generator (e.g. ``dict(type='NAFNet', ...)``), as for ``BaseEditModel``.
        pixel_loss: config of the pixel loss.
        fusion: fusion block of the prior branch (a name from :mod:`gpt4o_prior.fusion`, e.g. ``'sft'``).
        at: attach points: ``'auto'`` or a list of module paths in the generator.
        encoder: None (the default encoder), a timm model name, or keyword arguments of
            :class:`gpt4o_prior.encoder.PriorEncoder` (e.g. ``dict(levels=3)``).
        prior_scale: fidelity scale of the prior branch (0 turns the branch off).
        confidence_power: initial exponent of the learnt confidence gate of each fusion point (None: the plain
            gate; see :func:`gpt4o_prior.attach_prior`).
        input_channels: the generator's input channels for the dry run (None: from the generator, or 3 first).
        fusion_args: extra keyword arguments of the fusion blocks.
        freeze_host: turn the generator's own parameters' gradients off, to train the prior branch alone.
        prior_key: key of the prior in the model's ``inputs`` dict.
        require_prior: raise when ``inputs`` carries no prior (the default). With False, a call without a prior
            runs the generator without one.
        train_cfg, test_cfg, init_cfg, data_preprocessor: as for ``BaseEditModel``.

    Inputs (``forward``): ``inputs`` is the dict ``{'img': (B, 3, H, W), 'prior': (B, 3, H, W)}`` that MMagic's
    ``DataPreprocessor`` makes of ``PackInputs(keys=['img', 'prior'])``, both normalised alike; a bare tensor
    is ``img`` alone. An optional ``'prior_confidence'`` entry, (B, 1, H, W) in [0, 1] (``PackInputs(keys=[...,
    'prior_confidence'])``), is the prior's per-pixel confidence: the generator gets it as ``confidence=`` (each
    fusion update scaled by it; 0 = the host's own features there). Without it the prior is trusted everywhere.

    Shape:
        img ``(B, 3, H, W)``, prior ``(B, 3, H', W')`` (the same value range as img), prior_confidence
        ``(B, 1, H', W')`` (the prior's size; smaller by the preprocessor's padding, which it is zero-padded
        to); output ``(B, 3, H, W)``.

    Example:
        >>> from mmengine.registry import init_default_scope
        >>> from mmagic_plugins.registry import MODELS
        >>> init_default_scope('mmagic')  # as MMagic configs' default_scope = 'mmagic' does
        >>> model = MODELS.build(dict(type='PriorEditModel',
        ...     generator=dict(type='NAFNet', img_channels=3, mid_channels=8, middle_blk_num=1,
        ...                    enc_blk_nums=[1], dec_blk_nums=[1]),
        ...     pixel_loss=dict(type='L1Loss'), data_preprocessor=dict(type='DataPreprocessor')))
        >>> x = torch.rand(1, 3, 16, 16)
        >>> model(dict(img=x, prior=torch.rand(1, 3, 16, 16))).shape
        torch.Size([1, 3, 16, 16])
        >>> model(dict(img=x, prior=torch.rand(1, 3, 16, 16), prior_confidence=torch.rand(1, 1, 16, 16))).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, generator: Mapping[str, Any], pixel_loss: Mapping[str, Any], *, fusion: Any = "sft",
                 at: str | Sequence[str] = "auto", encoder: Mapping[str, Any] | str | None = None,
                 prior_scale: float = 1.0, fusion_args: Mapping[str, Any] | None = None, freeze_host: bool = False,
                 confidence_power: float | None = 0.5, input_channels: int | None = None, prior_key: str = "prior",
                 require_prior: bool = True,
                 train_cfg: dict | None = None, test_cfg: dict | None = None, init_cfg: dict | None = None,
                 data_preprocessor: dict | None = None) -> None:
        super().__init__(generator=generator, pixel_loss=pixel_loss, train_cfg=train_cfg, test_cfg=test_cfg,
                         init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        from gpt4o_prior.attach import attach_prior

        if fusion_args is not None and not isinstance(fusion_args, Mapping):
            raise ValueError(f"PriorEditModel: fusion_args must be a dict of keyword arguments, got {fusion_args!r}")
        kwargs = dict(fusion_args or {})
        if isinstance(encoder, Mapping):  # keyword arguments of the default encoder, e.g. dict(levels=3)
            from gpt4o_prior.encoder import PriorEncoder

            encoder = PriorEncoder(**dict(encoder))
        if encoder is not None:
            kwargs["encoder"] = encoder
        if not isinstance(at, str):
            at = list(at)
        self.generator = attach_prior(self.generator, at=at, fusion=fusion, prior_scale=prior_scale,
                                      confidence_power=confidence_power, input_channels=input_channels,
                                      **kwargs)
        self.prior_key = prior_key
        self.require_prior = bool(require_prior)
        self.freeze_host = bool(freeze_host)
        if self.freeze_host:
            self.generator.freeze_host()
        self.host_load_report: dict | None = None
        self._register_load_state_dict_pre_hook(self._map_bare_generator)
        self._confidence_non_image()

    @property
    def confidence_keys(self) -> tuple[str, str]:
        """The ``inputs`` keys of the prior's confidence and of the dropped prior's (``dropout_mode='pair'``)."""
        return f"{self.prior_key}_confidence", f"{self.prior_key}_dropped_confidence"

    def _confidence_non_image(self) -> None:
        """Make the confidence keys non-image keys of this model's ``DataPreprocessor`` (only stacked: a
        confidence is no image to normalise by the images' mean / std or to channel-convert). Set on this
        instance: MMagic's ``non_image_keys=`` argument would extend the list its class shares."""
        pre = self.data_preprocessor
        keys = getattr(pre, "_NON_IMAGE_KEYS", None)
        if isinstance(keys, list):
            pre._NON_IMAGE_KEYS = keys + [k for k in self.confidence_keys if k not in keys]

    # ------------------------------------------------------------------------------------------------ forward
    def forward(self, inputs: torch.Tensor | dict, data_samples: Any = None, mode: str = "tensor", **kwargs):
        """``BaseEditModel.forward`` with ``inputs['prior']`` passed on to the generator as ``prior=``.

        Args:
            inputs: ``{'img': (B, 3, H, W), 'prior': (B, 3, H', W')}`` or an ``img`` tensor; an optional
                ``'prior_confidence'`` (B, 1, H', W') goes with the prior as ``confidence=``. In ``loss`` mode
                a ``'prior_dropped'`` entry (``dropout_mode='pair'``) adds a second pass with it as the prior
                (and ``'prior_dropped_confidence'``, if packed, as its confidence);
                the losses returned are the means of both passes. Also in ``loss`` mode, meta keys
                ``prior_keep`` / ``prior_dropped_keep`` of ``data_samples`` (``dropout_fill='none'``) reach the
                generator as ``prior_keep=`` (0: that sample runs without its prior).
            data_samples: as for ``BaseEditModel``.
            mode: ``'tensor'``, ``'predict'`` or ``'loss'``.

        Returns:
            What ``BaseEditModel.forward`` returns in that mode.

        Raises:
            PriorInputMissingError: no prior in ``inputs`` and ``require_prior`` is set.
            ValueError: the prior's or its confidence's shape does not fit ``img`` / the prior.
        """
        if not isinstance(inputs, dict):
            return self._forward_one(inputs, None, None, None, data_samples, mode, kwargs)
        if "img" not in inputs:
            raise KeyError(f"PriorEditModel: inputs has no 'img' (keys: {sorted(inputs)})")
        key, dropped = self.prior_key, inputs.get(f"{self.prior_key}_dropped")
        conf_key, dropped_conf_key = self.confidence_keys
        train = mode == "loss"
        first = self._forward_one(inputs["img"], inputs.get(key), inputs.get(conf_key),
                                  self._keep(data_samples, f"{key}_keep", train), data_samples, mode, kwargs)
        if dropped is None or not train:
            return first
        # dropout_mode 'pair': a second pass with the dropped prior; the losses are the means of both passes
        second = self._forward_one(inputs["img"], dropped, inputs.get(dropped_conf_key),
                                   self._keep(data_samples, f"{key}_dropped_keep", train), data_samples, mode,
                                   kwargs, prior_name=f"{key}_dropped")
        return {k: (v + second[k]) / 2 for k, v in first.items()}

    @staticmethod
    def _keep(data_samples: Any, meta_key: str, train: bool) -> torch.Tensor | None:
        """The per-sample ``prior_keep`` flags packed as meta (``dropout_fill='none'``), as a (B,) tensor."""
        if not train or data_samples is None:
            return None
        samples = data_samples if isinstance(data_samples, (list, tuple)) else [data_samples]
        flags: list[float] = []
        for sample in samples:
            value = sample.metainfo.get(meta_key) if hasattr(sample, "metainfo") else None
            if value is None:
                return None
            flags.extend(value if isinstance(value, (list, tuple)) else [value])
        return torch.tensor(flags, dtype=torch.float32)

    def _confidence(self, conf: torch.Tensor, prior: torch.Tensor, name: str) -> torch.Tensor:
        """``conf`` checked against its prior, (B, 1, H', W') in the prior's dtype; zero-padded at the bottom /
        right where the preprocessor padded the prior (and img) but not the confidence (a non-image key)."""
        where = f"inputs['{name}_confidence']"
        if conf.dim() == 3:  # (B, H, W)
            conf = conf.unsqueeze(1)
        check_shape(conf, ["B", 1, "H", "W"], where)
        check_same_batch(prior, conf, (f"inputs['{name}']", where))
        (h, w), (ph, pw) = conf.shape[-2:], prior.shape[-2:]
        divisor = int(getattr(self.data_preprocessor, "pad_size_divisor", 1) or 1)
        if not (0 <= ph - h < divisor and 0 <= pw - w < divisor):
            raise ValueError(f"PriorEditModel: {where} is {(h, w)} but inputs['{name}'] is {(ph, pw)}: a prior and "
                             f"its confidence must be moved alike; add '{name}_confidence' to the keys of every "
                             f"transform that moves '{name}' (crops, flips, resizes)")
        if (h, w) != (ph, pw):
            conf = torch.nn.functional.pad(conf, (0, pw - w, 0, ph - h))  # the padding is no prior: trust 0
        return conf.to(device=prior.device, dtype=prior.dtype)

    def _forward_one(self, img: torch.Tensor, prior: torch.Tensor | None, conf: torch.Tensor | None,
                     keep: torch.Tensor | None, data_samples: Any, mode: str, kwargs: dict, *,
                     prior_name: str | None = None):
        kwargs = dict(kwargs)
        name = prior_name or self.prior_key
        if prior is None:
            if self.require_prior:
                raise PriorInputMissingError(
                    f"PriorEditModel got no inputs['{self.prior_key}']: the data pipeline must load the prior "
                    f"(LoadPrior) and pack it (PackInputs(keys=['img', '{self.prior_key}'])). With the 'prior = "
                    "dict(cache=..., set=...)' config line, build the runner with runner_type="
                    "'mmagic_plugins.PriorRunner' and a launcher that honours runner_type (python -m "
                    "mmagic_plugins.train; MMagic 1.2.0's tools/train.py ignores it). To run the generator "
                    "without a prior, set model.require_prior=False.")
        else:
            check_shape(prior, ["B", 3, "H", "W"], f"inputs['{name}']")
            check_same_batch(img, prior, ("inputs['img']", f"inputs['{name}']"))
            kwargs["prior"] = prior.to(dtype=img.dtype)
            if conf is not None:  # the prior's per-pixel trust: each fusion update is scaled by it
                kwargs["confidence"] = self._confidence(conf, kwargs["prior"], name)
            if keep is not None:
                kwargs["prior_keep"] = keep.to(img.device)
        return super().forward(img, data_samples, mode=mode, **kwargs)

    # ------------------------------------------------------------------------------------------------ loading
    def _map_bare_generator(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                            error_msgs) -> None:
        """Load-time hook: rename ``generator.<k>`` to ``generator.host.<k>`` for a checkpoint of the bare host."""
        gen = prefix + "generator."
        host = gen + HOST
        if any(k.startswith(host) for k in state_dict):
            return  # a checkpoint of the wrapped model: nothing to map
        own = {prefix + k for k in self.state_dict(keep_vars=True)}
        mapped = 0
        for k in [k for k in state_dict if k.startswith(gen) and k not in own]:
            target = host + k[len(gen):]
            if target in own:
                state_dict[target] = state_dict.pop(k)
                mapped += 1
        if not mapped:
            return
        host_total = sum(1 for k in own if k.startswith(host))
        branch_total = sum(1 for k in own if k.startswith(gen) and not k.startswith(host))
        self.host_load_report = dict(host_found=mapped, host_total=host_total, branch_total=branch_total)
        complete = mapped == host_total
        print_log(f"PriorEditModel: the checkpoint holds the bare generator: found {mapped} of {host_total} host "
                  f"tensors (loaded as generator.host.*); the prior branch ({branch_total} tensors) keeps its "
                  "identity initialisation" + (", so the model starts out computing what the checkpoint's model did"
                                               if complete else "; the host tensors not found keep their "
                                               "initialisation: is this checkpoint of another generator?"),
                  logger="current", level=logging.INFO if complete else logging.WARNING)
