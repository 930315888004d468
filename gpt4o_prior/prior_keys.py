"""The one ``prior`` setting of both framework adapters: its keys, defaults, meanings and checks, in one table.

BasicSR's ``prior:`` option (:mod:`basicsr_plugins.prior_option`) and MMagic's ``prior = dict(...)``
(:mod:`mmagic_plugins.config`) accept the same keys. This module holds them once (:data:`PRIOR_KEYS`); each
adapter checks a setting with :func:`check_prior_mapping` / :func:`check_data_settings`, naming the keys in its
own syntax, and documents them with :func:`keys_table` in its own words for true, false and none (a test keeps
each adapter's docstring equal to the rendered table). The default values of the augmentation keys are
:mod:`gpt4o_prior.augment`'s.

Example:
    >>> "dropout" in DATA_KEYS and "fusion" in NET_KEYS and not set(DATA_KEYS) & set(NET_KEYS)
    True
    >>> s = check_data_settings({"cache": "priors", "set": "s", "dropout_mode": "pair"}, spell=lambda k: k)
    >>> s["dropout_fill"], s["dropout"], s["confidence"]
    ('none', 0.1, True)
    >>> check_data_settings({"cache": "priors", "set": "s", "warp": 2}, spell=lambda k: f"prior.{k}")
    Traceback (most recent call last):
    ...
    gpt4o_prior.prior_keys.PriorSettingError: prior.warp must be a probability in [0, 1], got 2
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import augment
from .fallbacks import DATASET_FALLBACKS

__all__ = ["PriorKey", "PRIOR_KEYS", "DATA_KEYS", "NET_KEYS", "FALLBACKS", "REQUIRED", "PriorSettingError",
           "check_prior_mapping", "check_data_settings", "check_dropout", "keys_table"]

FALLBACKS = DATASET_FALLBACKS
"""What an input without a prior gets in a dataset (:mod:`gpt4o_prior.fallbacks`)."""

REQUIRED = object()
"""The default of a key that must be given (``cache``, ``set``)."""


class PriorSettingError(ValueError):
    """A bad value of the ``prior`` setting; the message names the key as the adapter spells it."""


@dataclass(frozen=True)
class PriorKey:
    """One key of the ``prior`` setting.

    Attributes:
        name: the key.
        side: ``"data"`` (read by the datasets / pipelines) or ``"net"`` (passed to the network's prior branch).
        default: its value when not given (:data:`REQUIRED` when it must be given; ``None`` where the meaning
            says what the default is).
        meaning: one line or a few, in the adapters' tables; ``{true}``, ``{false}``, ``{none}`` and ``{network}``
            are filled in with each adapter's words.
        default_text: what the table shows as the default when it is not the value itself.
    """

    name: str
    side: str
    default: Any
    meaning: str
    default_text: str | None = None


PRIOR_KEYS = (
    PriorKey("cache", "data", REQUIRED, "prior cache folder (``PriorCache`` root)", "(required)"),
    PriorKey("set", "data", REQUIRED, "prior set name in that cache", "(required)"),
    PriorKey("fallback", "data", "error", "input without a prior: ``error`` (stop before it runs), ``input`` (the "
             "input itself) or ``zeros``"),
    PriorKey("check", "data", True, "check every dataset input against the cache before it runs"),
    PriorKey("dropout", "data", augment.PRIOR_DROPOUT, "training: probability of dropping a sample's prior"),
    PriorKey("dropout_fill", "data", None, "what a dropped prior becomes: ``input``, ``zeros``, ``mean`` or "
             "``none`` (no prior: the branch is off for that sample); default ``input``, ``none`` with ``pair``",
             "see meaning"),
    PriorKey("dropout_mode", "data", "sample", "``sample``: drop each prior with probability ``dropout``; "
             "``pair``: train every sample with its prior and dropped in the same step (batch doubled, about twice "
             "the compute; ``dropout`` unused), for a model that must also run without priors"),
    PriorKey("warp", "data", augment.WARP_PROB, "training: probability of a small random affine warp of the prior"),
    PriorKey("max_shift", "data", augment.MAX_SHIFT, "warp: largest shift in pixels"),
    PriorKey("max_rotation", "data", augment.MAX_ROTATION, "warp: largest rotation in degrees"),
    PriorKey("max_scale", "data", augment.MAX_SCALE, "warp: largest relative zoom"),
    PriorKey("confidence", "data", True, "load each prior's per-pixel confidence from the cache, move it with the "
             "prior and pass it to the {network} (fusion updates scaled by it); {false}: none (trust the prior "
             "everywhere, the behaviour before confidence maps existed)"),
    PriorKey("fusion", "net", "sft", "fusion block name (``gpt4o_prior.fusion``)"),
    PriorKey("at", "net", "auto", "attach points: ``auto`` or a list of module paths of the {network}"),
    PriorKey("encoder", "net", None, "prior encoder: {none} (the default pyramid), a timm model name, or "
             "``PriorEncoder`` keyword arguments (a mapping)"),
    PriorKey("prior_scale", "net", 1.0, "fidelity scale of the prior branch"),
    PriorKey("confidence_power", "net", 0.5, "initial exponent ``p`` of each fusion point's learnt confidence gate "
             "``c**p`` (zero stays zero); {none}: the plain gate ``c``, as branches trained before it"),
    PriorKey("input_channels", "net", None, "channels of the {network}'s input for the dry run that finds the "
             "attach points: {none} reads them from the {network} (an attribute such as ``in_nc``) or tries 3 "
             "first; the prior stays RGB"),
    PriorKey("fusion_args", "net", {}, "extra keyword arguments of the fusion blocks"),
    PriorKey("freeze_host", "net", False, "train the prior branch alone (the {network}'s gradients off)"),
)
"""Every key of the ``prior`` setting, in the order the adapters document them."""

DATA_KEYS = tuple(k.name for k in PRIOR_KEYS if k.side == "data")
"""Keys used by the data side: the prior cache and set, the missing-prior fallback, the check, the augmentation,
and whether the prior's per-pixel confidence map is loaded and handed to the network."""

NET_KEYS = tuple(k.name for k in PRIOR_KEYS if k.side == "net")
"""Keys passed to the network that gains the prior branch."""

_BY_NAME = {k.name: k for k in PRIOR_KEYS}


def check_dropout(dropout: Any, dropout_fill: Any, dropout_mode: Any, warp: Any = 0.0, *,
                  spell: Callable[[str], str], dropout_given: bool = False) -> tuple[float, str, str, float]:
    """Check the dropout and warp settings (the one check of both adapters and the MMagic transform).

    Args:
        dropout, warp: probabilities in [0, 1].
        dropout_fill: one of :data:`gpt4o_prior.augment.DROPOUT_FILLS`, or ``None`` for the mode's default.
        dropout_mode: one of :data:`gpt4o_prior.augment.DROPOUT_MODES`.
        spell: how the caller names a key in messages (``"dropout"`` -> ``"option 'prior.dropout'"``).
        dropout_given: ``dropout`` was written by the user (a non-zero one has no meaning in ``pair`` mode).

    Returns:
        ``(dropout, fill, mode, warp)``, the fill resolved.

    Raises:
        PriorSettingError: a value out of range or not among the choices; the message names the key.
    """
    if dropout_mode not in augment.DROPOUT_MODES:
        raise PriorSettingError(f"{spell('dropout_mode')} must be one of {augment.DROPOUT_MODES}, "
                                f"got {dropout_mode!r}")
    fill = augment.default_dropout_fill(dropout_mode) if dropout_fill is None else dropout_fill
    if fill not in augment.DROPOUT_FILLS:
        raise PriorSettingError(f"{spell('dropout_fill')} must be one of {augment.DROPOUT_FILLS}, got {fill!r}")
    for key, value in (("dropout", dropout), ("warp", warp)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise PriorSettingError(f"{spell(key)} must be a probability in [0, 1], got {value!r}")
    if dropout_mode == "pair" and dropout_given and dropout != 0:
        raise PriorSettingError(f"{spell('dropout')} ({dropout!r}) has no meaning with dropout_mode 'pair', which "
                                "trains every sample both with and without its prior; remove it (or use dropout_mode "
                                "sample)")
    return float(dropout), fill, dropout_mode, float(warp)


def check_data_settings(values: Mapping[str, Any], *, spell: Callable[[str], str], required_hint: str = "",
                        true_false: str = "true or false") -> dict[str, Any]:
    """The data keys of a ``prior`` setting, checked, with every default filled in.

    Args:
        values: the data keys given (others are ignored); a value of ``None`` counts as not given.
        spell: how the caller names a key in messages.
        required_hint: said after "is required" when ``cache`` or ``set`` is missing.
        true_false: how the caller's syntax writes the two booleans, for messages.

    Returns:
        dict with every key of :data:`DATA_KEYS` (``dropout_fill`` resolved from the mode).

    Raises:
        PriorSettingError: a missing ``cache`` / ``set`` or a bad value; the message names the key.
    """
    given = {k: values[k] for k in DATA_KEYS if values.get(k) is not None}
    out = {k: given.get(k, _BY_NAME[k].default) for k in DATA_KEYS}
    for key in ("cache", "set"):
        if out[key] is REQUIRED or not out[key]:
            raise PriorSettingError(f"{spell(key)} is required{required_hint}")
    if out["fallback"] not in FALLBACKS:
        raise PriorSettingError(f"{spell('fallback')} must be one of {FALLBACKS}, got {out['fallback']!r}")
    for key in ("check", "confidence"):
        if not isinstance(out[key], bool):
            raise PriorSettingError(f"{spell(key)} must be {true_false}, got {out[key]!r}")
    for key in ("max_shift", "max_rotation", "max_scale"):
        if isinstance(out[key], bool) or not isinstance(out[key], (int, float)) or out[key] < 0:
            raise PriorSettingError(f"{spell(key)} must be a number >= 0, got {out[key]!r}")
    out["dropout"], out["dropout_fill"], out["dropout_mode"], out["warp"] = check_dropout(
        out["dropout"], out["dropout_fill"], out["dropout_mode"], out["warp"], spell=spell,
        dropout_given="dropout" in given)
    return out


def check_prior_mapping(prior: Any, *, spell: Callable[[str], str], whole: str, example: str,
                        required_hint: str = "", true_false: str = "true or false") -> dict[str, Any]:
    """Check a whole ``prior`` setting (a mapping of :data:`PRIOR_KEYS`) and return it as a plain dict, as given.

    Args:
        prior: the setting.
        spell: how the caller names a key in messages.
        whole: how it names the setting itself (``"option 'prior'"``).
        example: a correct setting in the caller's syntax, for the message when ``prior`` is not a mapping.
        required_hint, true_false: see :func:`check_data_settings`.

    Raises:
        PriorSettingError: not a mapping, an unknown key, or a bad data-side value (:func:`check_data_settings`).
    """
    if not isinstance(prior, Mapping):
        raise PriorSettingError(f"{whole} must be a mapping such as {example}, got {prior!r}")
    unknown = sorted(set(prior) - set(DATA_KEYS) - set(NET_KEYS))
    if unknown:
        raise PriorSettingError(f"{whole} has unknown key(s) {unknown}; known keys: "
                                f"{sorted(DATA_KEYS + NET_KEYS)}")
    check_data_settings(prior, spell=spell, required_hint=required_hint, true_false=true_false)
    return dict(prior)


def _value_text(value: Any, words: Mapping[str, str]) -> str:
    if value is True or value is False or value is None:
        return f"``{words[str(value).lower()]}``"
    return f"``{value!r}``" if isinstance(value, str) and value == "" else f"``{value}``"


def keys_table(*, true: str, false: str, none: str, network: str) -> str:
    """The keys of :data:`PRIOR_KEYS` as an RST table in an adapter's words.

    Args:
        true, false, none: how the adapter's config syntax writes them (``true`` / ``false`` / ``~`` in YAML,
            ``True`` / ``False`` / ``None`` in Python).
        network: what the adapter calls the host network (``network``, ``generator``).

    Example:
        >>> print(keys_table(true="true", false="false", none="~", network="network").splitlines()[3])
        cache            (required)   prior cache folder (``PriorCache`` root)
    """
    import textwrap

    words = {"true": true, "false": false, "none": none}
    rule = "=" * 16 + " " + "=" * 12 + " " + "=" * 72
    lines = [rule, f"{'key':<16} {'default':<12} meaning", rule]
    for k in PRIOR_KEYS:
        default = k.default_text or _value_text(k.default, words)
        meaning = k.meaning.format(true=f"``{true}``", false=f"``{false}``", none=f"``{none}``", network=network)
        body = textwrap.wrap(meaning, 72, break_on_hyphens=False) or [""]
        lines.append(f"{k.name:<16} {default:<12} {body[0]}")
        lines.extend(" " * 30 + line for line in body[1:])
    lines.append(rule)
    return "\n".join(lines)
