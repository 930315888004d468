"""The one-line option: turn ``prior: {cache: priors/, set: ohaze-gpt}`` into the written-out BasicSR options.

A working BasicSR option file (``model_type: SRModel`` or the Restormer family's ``ImageCleanModel``,
``PairedImageDataset`` / ``SingleImageDataset`` / ``Dataset_PairedImage``, any registered ``network_g``) gains one
top-level line; :func:`apply_prior_option` rewrites the parsed options so
that

* ``network_g`` becomes ``{type: G4PPriorNet, host: <the original network_g>, fusion: ..., at: ...}``;
* ``model_type: SRModel`` becomes ``PriorSRModel`` (``ImageCleanModel``: ``PriorImageCleanModel``);
* every dataset becomes its prior-aware twin (``PriorPairedImageDataset`` / ``PriorSingleImageDataset``) with
  ``prior_cache``, ``prior_set`` and the augmentation keys filled in (keys already written in a dataset win).

Keys of the ``prior:`` mapping (all but ``cache`` and ``set`` optional):

{keys_table}
"""
from __future__ import annotations

from typing import Any, Mapping

from gpt4o_prior.prior_keys import (DATA_KEYS, NET_KEYS, PriorSettingError, check_data_settings,
                                   check_prior_mapping, keys_table)

if __doc__:  # the table of keys in the docstring: the one table of gpt4o_prior.prior_keys, in this syntax
    __doc__ = __doc__.replace("{keys_table}", keys_table(true="true", false="false", none="~", network="network"))

__all__ = ["PriorOptionError", "DATA_KEYS", "NET_KEYS", "DATASET_TWINS", "MODEL_TWINS", "PRIOR_ARCH",
           "apply_prior_option", "dataset_prior_kwargs"]

PRIOR_ARCH = "G4PPriorNet"
"""Registered name of the wrapping architecture."""

DATASET_TWINS = {"PairedImageDataset": "PriorPairedImageDataset", "SingleImageDataset": "PriorSingleImageDataset",
                 "Dataset_PairedImage": "PriorDataset_PairedImage"}
"""BasicSR dataset type -> its prior-aware twin."""

MODEL_TWINS = {"SRModel": "PriorSRModel", "ImageCleanModel": "PriorImageCleanModel"}
"""BasicSR model type -> its prior-aware twin."""


class PriorOptionError(ValueError):
    """An option file the prior plugin cannot handle; the message names the key and what to do."""


def _check_prior_mapping(prior: Any) -> dict:
    try:
        return check_prior_mapping(prior, spell=lambda k: f"option 'prior.{k}'", whole="option 'prior'",
                                   example="{cache: priors/, set: ohaze-gpt}",
                                   required_hint=": write prior: {cache: <cache folder>, set: <prior set name>}")
    except PriorSettingError as err:
        raise PriorOptionError(str(err)) from None


def dataset_prior_kwargs(dataset_opt: Mapping[str, Any]) -> dict:
    """Read the ``prior_*`` keys of one dataset's options into keyword arguments (with defaults).

    Args:
        dataset_opt: one entry of ``opt['datasets']``.

    Returns:
        dict with keys ``cache, set, fallback, check, dropout, dropout_fill, dropout_mode, warp, max_shift,
        max_rotation, max_scale, confidence`` (:data:`gpt4o_prior.prior_keys.DATA_KEYS`).

    Raises:
        PriorOptionError: ``prior_cache`` or ``prior_set`` missing, or a bad value (the message names the key).

    Example:
        >>> kw = dataset_prior_kwargs({"name": "v", "prior_cache": "priors", "prior_set": "s"})
        >>> kw["set"], kw["dropout"], kw["warp"], kw["fallback"], kw["confidence"]
        ('s', 0.1, 0.5, 'error', True)
    """
    name = dataset_opt.get("name", "?")
    given = {k: dataset_opt.get(f"prior_{k}") for k in DATA_KEYS}
    try:
        return check_data_settings(given, spell=lambda k: f"dataset '{name}': option 'prior_{k}'",
                                   required_hint=" for a prior dataset (or add the top-level line prior: {cache: ..., "
                                                 "set: ...} and keep the BasicSR dataset type)")
    except PriorSettingError as err:
        raise PriorOptionError(str(err)) from None


def apply_prior_option(opt: dict) -> dict:
    """Rewrite parsed BasicSR options carrying a top-level ``prior:`` mapping into the written-out form.

    Does nothing when ``prior`` is absent or null. Idempotent: applying it twice gives the same options.

    Args:
        opt: options as BasicSR's ``parse_options`` returns them (changed in place).

    Returns:
        The same ``opt``.

    Raises:
        PriorOptionError: an unknown key in ``prior``, a ``model_type`` or dataset ``type`` the plugin cannot
            make prior-aware, or a ``network_g`` without ``type``; the message names the key and what to do.

    Example:
        >>> opt = {"model_type": "SRModel", "prior": {"cache": "priors", "set": "s", "fusion": "sft"},
        ...        "network_g": {"type": "G4PNAFNet", "width": 8},
        ...        "datasets": {"train": {"name": "t", "type": "PairedImageDataset"}}}
        >>> opt = apply_prior_option(opt)
        >>> opt["model_type"], opt["network_g"]["type"], opt["network_g"]["host"]
        ('PriorSRModel', 'G4PPriorNet', {'type': 'G4PNAFNet', 'width': 8})
        >>> opt["datasets"]["train"]["type"], opt["datasets"]["train"]["prior_set"]
        ('PriorPairedImageDataset', 's')
    """
    prior = opt.get("prior")
    if prior is None:
        return opt
    prior = _check_prior_mapping(prior)

    model_type = opt.get("model_type", "SRModel")
    if model_type in MODEL_TWINS:
        opt["model_type"] = MODEL_TWINS[model_type]
    elif model_type not in MODEL_TWINS.values():
        raise PriorOptionError(
            f"option 'model_type: {model_type}': the prior line can wrap {sorted(MODEL_TWINS)} only. Use "
            f"model_type: SRModel, or write a model that feeds data['prior'] to the network (subclass "
            f"basicsr_plugins.PriorSRModel) and remove the 'prior' line")

    net = opt.get("network_g")
    if not isinstance(net, Mapping) or "type" not in net:
        raise PriorOptionError("option 'network_g' must be a mapping with a 'type' for the prior line to wrap it")
    net_kwargs = {k: prior[k] for k in NET_KEYS if k in prior}
    if net["type"] == PRIOR_ARCH:
        for key, value in net_kwargs.items():
            net.setdefault(key, value)
    else:
        opt["network_g"] = {"type": PRIOR_ARCH, "host": dict(net), **net_kwargs}

    datasets = opt.get("datasets") or {}
    for phase, dataset_opt in datasets.items():
        dtype = dataset_opt.get("type")
        if dtype in DATASET_TWINS:
            dataset_opt["type"] = DATASET_TWINS[dtype]
        elif dtype not in DATASET_TWINS.values():
            raise PriorOptionError(
                f"option 'datasets.{phase}.type: {dtype}': the prior line supports {sorted(DATASET_TWINS)}. "
                f"Convert the data to one of them, or give this dataset a 'prior' entry in its batches yourself "
                f"and remove the 'prior' line")
        for key in DATA_KEYS:
            if key in prior:
                dataset_opt.setdefault(f"prior_{key}", prior[key])
    return opt
