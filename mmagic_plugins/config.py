"""Turn the one ``prior = dict(cache=..., set=...)`` setting into the written-out MMagic config.

:func:`apply_prior` is a pure function from a config to a new config (the input is not changed). It

* makes ``model`` a ``PriorEditModel`` (from ``BaseEditModel``; generator, loss and data preprocessor kept),
  with the branch keys of ``prior`` (``fusion``, ``at``, ...) unless the model already sets them;
* rewrites the pipeline of every dataloader's dataset (``train_dataloader``, ``val_dataloader``,
  ``test_dataloader``, lists of them, through dataset wrappers): ``LoadPrior`` right after ``LoadImageFromFile(key='img')``,
  ``'prior'`` (and its confidence ``'prior_confidence'``) added to the keys of the shared geometric transforms
  (:data:`KEYED_GEOMETRIC`), ``PairedRandomCrop`` replaced by ``PriorPairedRandomCrop``, ``PriorAugment`` before
  ``PackInputs`` in training, and ``'prior'`` (and ``'prior_confidence'``) packed by ``PackInputs``. A pipeline
  that already has ``LoadPrior`` is left as written.

:class:`~mmagic_plugins.runner.PriorRunner` applies it to the config it is built from; call it yourself to see or
save the written-out config. Keys of ``prior`` (all but ``cache`` and ``set`` optional; the same keys as the
BasicSR adapter's ``prior:`` option):

{keys_table}
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

from mmengine.logging import print_log

from gpt4o_prior import augment
from gpt4o_prior.prior_keys import DATA_KEYS, NET_KEYS, PriorSettingError, check_prior_mapping, keys_table

if __doc__:  # the table of keys in the docstring: the one table of gpt4o_prior.prior_keys, in this syntax
    __doc__ = __doc__.replace("{keys_table}", keys_table(true="True", false="False", none="None", network="generator"))

__all__ = ["PriorConfigError", "type_name", "bare_type", "DATA_KEYS", "NET_KEYS", "KEYED_GEOMETRIC", "apply_prior",
           "prior_pipeline", "check_prior_settings"]

KEYED_GEOMETRIC = ("Flip", "RandomTransposeHW", "RandomRotation", "FixedCrop", "Resize")
"""MMagic transforms that take a ``keys`` list and move every listed image alike: the prior joins ``img`` there."""

DATALOADERS = {"train_dataloader": True, "val_dataloader": False, "test_dataloader": False}
"""Dataloader keys rewritten, and whether each is a training loader (prior augmentation on)."""

MODEL_TYPES = ("BaseEditModel", "PriorEditModel")


class PriorConfigError(ValueError):
    """A config the prior plugin cannot rewrite; the message names the key and says what to do."""


def type_name(t: Any) -> str:
    """The name of a config ``type`` (a string, or a class given directly), as written: ``'mmagic.Flip'``."""
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def bare_type(t: Any) -> str:
    """The name of a config ``type`` without its registry scope: ``'mmagic.Flip'`` and ``Flip`` give ``'Flip'``."""
    return type_name(t).split(".")[-1]


def check_prior_settings(prior: Any) -> dict:
    """Validate the ``prior`` setting and return it as a plain dict.

    Args:
        prior: the config's ``prior`` value.

    Returns:
        A dict copy.

    Raises:
        PriorConfigError: not a mapping, an unknown key, ``cache`` or ``set`` missing, a bad ``fallback``,
            ``confidence`` not a bool.

    Example:
        >>> check_prior_settings(dict(cache='priors/', set='ohaze-gpt'))
        {'cache': 'priors/', 'set': 'ohaze-gpt'}
        >>> check_prior_settings(dict(cache='priors/'))
        Traceback (most recent call last):
        ...
        mmagic_plugins.config.PriorConfigError: prior.set is required: prior = dict(cache='<cache folder>', set='<prior set name>')
    """
    try:
        check_prior_mapping(prior, spell=lambda k: f"prior.{k}", whole="prior",
                            example="prior = dict(cache='priors/', set='ohaze-gpt')",
                            required_hint=": prior = dict(cache='<cache folder>', set='<prior set name>')",
                            true_false="True or False")
    except PriorSettingError as err:
        raise PriorConfigError(str(err)) from None
    return {k: copy.deepcopy(v) for k, v in prior.items()}


def _keys_of(step: Mapping) -> list | None:
    keys = step.get("keys")
    if keys is None:
        return None
    return [keys] if isinstance(keys, str) else list(keys)


def prior_pipeline(pipeline: list, *, cache: str, set: str, training: bool = False,  # noqa: A002
                   fallback: str = "error", dropout: float = augment.PRIOR_DROPOUT,
                   dropout_fill: str | None = None, dropout_mode: str = "sample",
                   warp: float = augment.WARP_PROB, max_shift: float = augment.MAX_SHIFT,
                   max_rotation: float = augment.MAX_ROTATION, max_scale: float = augment.MAX_SCALE,
                   confidence: bool = True, where: str = "pipeline") -> list:
    """Return a copy of an MMagic pipeline (a list of transform dicts) that also loads and carries the prior.

    Args:
        pipeline: the pipeline, e.g. a dataloader's ``dataset.pipeline``.
        cache, set, fallback: for ``LoadPrior``.
        training: add ``PriorAugment`` (prior warp and dropout) before ``PackInputs``.
        dropout, dropout_fill, dropout_mode, warp, max_shift, max_rotation, max_scale: for ``PriorAugment``
            (``dropout_mode='pair'`` also packs ``prior_dropped``; ``dropout_fill`` ``'none'`` (the default with
            ``'pair'``) packs the ``*_keep`` flags as meta keys).
        confidence: ``LoadPrior`` also loads the prior's confidence (``prior_confidence``), which joins ``prior``
            in the keys of the geometric transforms and is packed (with ``prior_dropped_confidence`` in ``pair``
            mode); ``False``: ``LoadPrior(..., confidence=False)`` and nothing of it anywhere.
        where: the pipeline's name, for error messages.

    Returns:
        The new pipeline (the input list is not changed). A pipeline that already has ``LoadPrior`` comes back
        unchanged (a copy).

    Raises:
        PriorConfigError: no ``LoadImageFromFile`` with ``key='img'``, or no ``PackInputs``.

    Example:
        >>> p = [dict(type='LoadImageFromFile', key='img'), dict(type='LoadImageFromFile', key='gt'),
        ...      dict(type='Flip', keys=['img', 'gt']), dict(type='PairedRandomCrop', gt_patch_size=64),
        ...      dict(type='PackInputs')]
        >>> [s['type'] for s in prior_pipeline(p, cache='priors/', set='s', training=True)]
        ['LoadImageFromFile', 'LoadPrior', 'LoadImageFromFile', 'Flip', 'PriorPairedRandomCrop', 'PriorAugment', 'PackInputs']
        >>> prior_pipeline(p, cache='priors/', set='s')[3]['keys']
        ['img', 'gt', 'prior', 'prior_confidence']
        >>> prior_pipeline(p, cache='priors/', set='s', confidence=False)[3]['keys']
        ['img', 'gt', 'prior']
    """
    if not isinstance(confidence, bool):
        raise PriorConfigError(f"{where}: confidence must be True or False, got {confidence!r}")
    steps = [copy.deepcopy(dict(s)) for s in pipeline]
    names = [bare_type(s.get("type", "")) for s in steps]
    if "LoadPrior" in names:
        return steps
    load = [i for i, (n, s) in enumerate(zip(names, steps)) if n == "LoadImageFromFile" and s.get("key") == "img"]
    if not load:
        raise PriorConfigError(f"{where}: no LoadImageFromFile(key='img') to load the prior after; write the "
                               "pipeline with LoadPrior yourself (see docs/mmagic.md)")
    if "PackInputs" not in names:
        raise PriorConfigError(f"{where}: no PackInputs to pack the prior with; write the pipeline with "
                               "PackInputs(keys=['img', 'prior']) yourself")
    moved = ["prior", "prior_confidence"] if confidence else ["prior"]  # a prior pixel and its confidence together
    out: list = []
    for i, (name, step) in enumerate(zip(names, steps)):
        if name in KEYED_GEOMETRIC and "img" in (_keys_of(step) or []):
            step["keys"] = _keys_of(step) + [k for k in moved if k not in _keys_of(step)]
        elif name == "PairedRandomCrop":
            step["type"] = "PriorPairedRandomCrop"
        elif name == "PackInputs":
            pair = training and dropout_mode == "pair"
            fill = augment.default_dropout_fill(dropout_mode) if dropout_fill is None else dropout_fill
            if training and (dropout > 0 or warp > 0 or pair):
                out.append(dict(type="PriorAugment", dropout=dropout, dropout_fill=dropout_fill, warp=warp,
                                max_shift=max_shift, max_rotation=max_rotation, max_scale=max_scale,
                                dropout_mode=dropout_mode))
            packed = ["prior", "prior_dropped"] if pair else ["prior"]
            confs = [f"{k}_confidence" for k in packed] if confidence else []
            keys = _keys_of(step) or ["merged", "img"]
            step["keys"] = keys + [k for k in packed + confs if k not in keys]
            meta = step.get("meta_keys") or []
            meta = [meta] if isinstance(meta, str) else list(meta)
            wanted = [f"{k}_{m}" for k in packed for m in ("channel_order", "color_type")]
            if training and fill == "none" and (dropout > 0 or pair):
                wanted += [f"{k}_keep" for k in packed]
            step["meta_keys"] = meta + [k for k in wanted if k not in meta]
        elif i > load[0] and "img" in (_keys_of(step) or []) and name not in KEYED_GEOMETRIC:
            also = " and 'prior_confidence'" if confidence else ""
            print_log(f"{where}: left the prior out of {name}(keys={_keys_of(step)}); if {name} moves pixels "
                      f"(a crop, a warp), add 'prior'{also} to its keys so the prior stays aligned with img",
                      logger="current", level=30)
        out.append(step)
        if i == load[0]:
            load_prior = dict(type="LoadPrior", cache=str(cache), set=str(set), fallback=fallback)
            if not confidence:  # LoadPrior loads the confidence by default
                load_prior["confidence"] = False
            out.append(load_prior)
    return out


def _rewrite_dataset(ds: Any, where: str, **kwargs) -> Any:
    if not isinstance(ds, Mapping):
        return ds
    ds = dict(ds)
    if ds.get("pipeline") is not None:
        ds["pipeline"] = prior_pipeline(list(ds["pipeline"]), where=f"{where}.pipeline", **kwargs)
    if isinstance(ds.get("dataset"), Mapping):
        ds["dataset"] = _rewrite_dataset(ds["dataset"], f"{where}.dataset", **kwargs)
    if isinstance(ds.get("datasets"), (list, tuple)):
        ds["datasets"] = [_rewrite_dataset(d, f"{where}.datasets[{i}]", **kwargs)
                          for i, d in enumerate(ds["datasets"])]
    return ds


def apply_prior(cfg: Any, prior: Mapping[str, Any] | None = None) -> Any:
    """Return a copy of ``cfg`` with the prior branch written out (see the module docstring).

    Args:
        cfg: an ``mmengine.Config`` or a dict, with ``model`` and dataloaders as MMagic restoration configs have.
        prior: the prior settings; default ``cfg['prior']``.

    Returns:
        A new config of the same kind (``cfg`` is not changed), with ``prior`` kept in it.

    Raises:
        PriorConfigError: no ``prior`` setting, a bad one, or a model that is not a ``BaseEditModel``.

    Example:
        >>> cfg = dict(prior=dict(cache='priors/', set='s', fusion='sft'),
        ...            model=dict(type='BaseEditModel', generator=dict(type='NAFNet'), pixel_loss=dict(type='L1Loss')))
        >>> new = apply_prior(cfg)
        >>> new['model']['type'], new['model']['fusion'], cfg['model']['type']
        ('PriorEditModel', 'sft', 'BaseEditModel')
    """
    if prior is None:
        if "prior" not in cfg:
            raise PriorConfigError("the config has no prior setting: add prior = dict(cache='<cache folder>', "
                                   "set='<prior set name>')")
        prior = cfg["prior"]
    prior = check_prior_settings(prior)
    cfg = copy.deepcopy(cfg)
    model = cfg.get("model")
    if not isinstance(model, Mapping):
        raise PriorConfigError("the config has no model dict to add the prior branch to")
    mtype = bare_type(model.get("type", ""))
    if mtype not in MODEL_TYPES:
        raise PriorConfigError(f"model.type is {mtype!r}; the prior plugin wraps the generator of a BaseEditModel. "
                               "For another model, subclass it the way PriorEditModel subclasses BaseEditModel")
    model = dict(model)
    model["type"] = "PriorEditModel"
    for key in NET_KEYS:
        if key in prior and key not in model:
            model[key] = prior[key]
    cfg["model"] = model
    data_kwargs = {k: prior[k] for k in DATA_KEYS if k in prior and k != "check"}
    for key, training in DATALOADERS.items():
        loader = cfg.get(key)
        if isinstance(loader, (list, tuple)):  # MMagic's MultiValLoop / MultiTestLoop take several loaders
            cfg[key] = [_rewrite_loader(d, f"{key}[{i}]", training, data_kwargs) for i, d in enumerate(loader)]
        elif loader is not None:
            cfg[key] = _rewrite_loader(loader, key, training, data_kwargs)
    return cfg


def _rewrite_loader(loader: Any, where: str, training: bool, data_kwargs: dict) -> Any:
    if isinstance(loader, Mapping) and isinstance(loader.get("dataset"), Mapping):
        loader = dict(loader)
        loader["dataset"] = _rewrite_dataset(loader["dataset"], f"{where}.dataset", training=training,
                                             **data_kwargs)
    return loader
