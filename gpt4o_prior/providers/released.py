"""Import a folder of already-made priors (e.g. the GPT-4o outputs a study released) into the prior cache.

:func:`import_folder` matches every input image to its prior by file name, aligns the prior to the input's
geometry (:func:`gpt4o_prior.align.align_with_confidence`: global registration, then a dense step with a per-pixel
confidence), and stores the prior as found, the aligned prior and its confidence in the cache under a named prior
set (label ``released-gpt`` by default), keyed by the input file's content hash, so a dataset finds it however the
input folder is later renamed or moved.

**Name templates.** ``template`` says what the prior's file stem (name without extension) is for an input:

==============================  ==================================  =========================================
template                        input                               prior stem it matches
==============================  ==================================  =========================================
``{stem}`` (default)            ``0001.png``                        ``0001``
``{stem}_gpt``                  ``0001.png``                        ``0001_gpt``
``{stem|strip(_hazy)}_GPT``     ``01_outdoor_hazy.jpg``             ``01_outdoor_GPT``
``{stem|strip(_hazy)}*``        ``01_outdoor_hazy.jpg``             ``01_outdoor`` followed by anything
``{num}``                       ``01_outdoor_hazy.jpg``             ``1`` (first number, no leading zeros)
``{num:03d}``                   ``7.png``                           ``007``
``gpt/{stem}``                  ``0001.png``                        ``0001`` in the sub-folder ``gpt``
==============================  ==================================  =========================================

Fields: ``{stem}`` (input file name without extension), ``{name}`` (with extension), ``{num}`` (the first run of
digits in the stem, as an integer; accepts a Python format spec such as ``{num:04d}``). Filters, applied left to
right after ``|``: ``strip(S)`` removes the suffix ``S`` if present, ``lstrip(P)`` removes the prefix ``P``,
``replace(A,B)``, ``lower``, ``upper``. Outside braces, ``*`` matches any characters and everything else is
literal; a ``/`` looks in a sub-folder of ``priors_dir``. Any extension counts (``.png``, ``.jpg``, ...). A Python
callable ``stem -> prior stem`` is accepted too. An input that matches two priors is an error (list printed).

Example:
    >>> expand_template("{stem|strip(_hazy)}_GPT", "01_outdoor_hazy.jpg")
    '01_outdoor_GPT'
    >>> expand_template("{num:03d}", "im7.png")
    '007'
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data.io import IMAGE_SUFFIXES, decode_rgb, encode_png, list_images
from .base import Provider, register_provider

__all__ = ["expand_template", "template_regex", "match_folders", "ImportReport", "ReleasedProvider",
           "import_folder"]

_FIELD = re.compile(r"\{([^{}]*)\}")
_FILTER = re.compile(r"^(\w+)(?:\((.*)\))?$")


def _apply_filter(value: str, spec: str, template: str) -> str:
    m = _FILTER.match(spec.strip())
    if not m:
        raise ValueError(f"template {template!r}: cannot read the filter {spec!r}; filters are strip(S), "
                         "lstrip(P), replace(A,B), lower, upper")
    name, arg = m.group(1), m.group(2)
    if name == "strip" and arg is not None:
        return value[: -len(arg)] if arg and value.endswith(arg) else value
    if name == "lstrip" and arg is not None:
        return value[len(arg):] if arg and value.startswith(arg) else value
    if name == "replace" and arg is not None and arg.count(",") == 1:
        a, b = arg.split(",")
        return value.replace(a, b)
    if name in ("lower", "upper") and arg is None:
        return value.lower() if name == "lower" else value.upper()
    raise ValueError(f"template {template!r}: unknown filter {spec!r}; filters are strip(S), lstrip(P), "
                     "replace(A,B), lower, upper")


def _field_value(expr: str, input_name: str, template: str) -> str:
    head, *filters = expr.split("|")
    head, _, fmt = head.partition(":")
    head = head.strip()
    stem = Path(input_name).stem
    if head == "stem":
        value = stem
    elif head == "name":
        value = Path(input_name).name
    elif head == "num":
        digits = re.search(r"\d+", stem)
        if digits is None:
            raise ValueError(f"template {template!r} uses {{num}} but the input name {input_name!r} has no digits")
        return format(int(digits.group()), fmt)
    else:
        raise ValueError(f"template {template!r}: unknown field {{{head}}}; fields are {{stem}}, {{name}}, {{num}}")
    if fmt:
        value = format(value, fmt)
    for f in filters:
        value = _apply_filter(value, f, template)
    return value


def expand_template(template: str | Callable[[str], str], input_name: str) -> str:
    """The prior stem pattern (``*`` wildcards kept) that ``template`` gives for the input file ``input_name``.

    Example:
        >>> expand_template("{stem|replace(rain,clean)|upper}", "rain_01.png")
        'CLEAN_01'
        >>> expand_template(lambda s: s + "_x", "a.png")
        'a_x'
    """
    if callable(template):
        out = template(Path(input_name).stem)
        if not isinstance(out, str) or not out:
            raise ValueError(f"the template callable returned {out!r} for {input_name!r}; it must return a stem")
        return out
    if not isinstance(template, str) or not template:
        raise ValueError(f"template must be a non-empty string such as '{{stem}}_gpt', got {template!r}")
    stray = _FIELD.sub("", template)
    if "{" in stray or "}" in stray:
        raise ValueError(f"template {template!r} has an unbalanced brace")
    return _FIELD.sub(lambda m: _field_value(m.group(1), input_name, template), template)


def template_regex(template: str | Callable[[str], str], input_name: str) -> re.Pattern:
    """A compiled regex that fully matches the prior stems (with sub-folder, ``/``-separated) for one input.

    Example:
        >>> bool(template_regex("{stem}*", "01.png").fullmatch("01_gpt4o"))
        True
    """
    pattern = expand_template(template, input_name)
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def match_folders(priors_dir: str | Path, inputs_dir: str | Path, *, template: str | Callable[[str], str] = "{stem}"
                  ) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """Pair every input image with its prior by name.

    Args:
        priors_dir: folder of prior images (searched recursively when the template contains ``/``).
        inputs_dir: folder of input images (not recursive).
        template: see the module documentation.

    Returns:
        ``(pairs, unmatched_inputs, unmatched_priors)``: ``(input_path, prior_path)`` pairs in input order, inputs
        without a prior, priors that no input claimed.

    Raises:
        FileNotFoundError: a folder is missing.
        ValueError: no input images, a bad template, an input matching several priors, or a prior matched by
            several inputs.
    """
    priors_dir, inputs_dir = Path(priors_dir), Path(inputs_dir)
    for what, folder in (("priors_dir", priors_dir), ("inputs_dir", inputs_dir)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{what} {folder} is not a folder; check the path")
    inputs = list_images(inputs_dir, required=False)
    if not inputs:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in inputs_dir {inputs_dir}")
    nested = not callable(template) and "/" in template
    priors = list_images(priors_dir, recursive=nested, required=False)
    by_stem: dict[str, list[Path]] = {}
    for p in priors:
        rel = p.relative_to(priors_dir).with_suffix("").as_posix()
        by_stem.setdefault(rel, []).append(p)
    pairs, unmatched, ambiguous = [], [], []
    claimed: dict[Path, Path] = {}
    twice = []
    for inp in inputs:
        pattern = expand_template(template, inp.name)
        if "*" in pattern:
            rx = template_regex(template, inp.name)
            hits = [p for stem, ps in by_stem.items() if rx.fullmatch(stem) for p in ps]
        else:
            hits = list(by_stem.get(pattern, []))
        if not hits:
            unmatched.append(inp)
        elif len(hits) > 1:
            ambiguous.append((inp, hits))
        else:
            if hits[0] in claimed:
                twice.append((hits[0], claimed[hits[0]], inp))
            claimed[hits[0]] = inp
            pairs.append((inp, hits[0]))
    if ambiguous:
        lines = [f"  {i.name} -> {', '.join(h.name for h in hits)}" for i, hits in ambiguous[:10]]
        more = f"\n  ... and {len(ambiguous) - 10} more" if len(ambiguous) > 10 else ""
        raise ValueError(f"{len(ambiguous)} input(s) match several priors in {priors_dir} with template "
                         f"{template!r}:\n" + "\n".join(lines) + more
                         + "\nmake the template more specific (fewer '*') or remove the duplicates")
    if twice:
        lines = [f"  {p.name} <- {a.name} and {b.name}" for p, a, b in twice[:10]]
        raise ValueError(f"{len(twice)} prior(s) are matched by more than one input with template {template!r}:\n"
                         + "\n".join(lines) + "\nuse a template that tells these inputs apart")
    unmatched_priors = [p for p in priors if p not in claimed]
    return pairs, unmatched, unmatched_priors


@dataclass
class ImportReport:
    """What :func:`import_folder` did. ``print(report)`` gives a readable summary.

    Attributes:
        set_name: the prior set written.
        label: its label.
        pairs: ``(input_name, prior_name)`` for every matched input.
        added: inputs whose prior was stored for the first time.
        updated: inputs whose stored prior was replaced (the prior file changed since the last import).
        unchanged: inputs already imported with the same prior file (nothing written).
        unmatched_inputs: input file names with no prior: the CLI exits non-zero when there are any.
        unmatched_priors: prior file names that no input claimed.
        hint: for an unmatched input, the prior name the template looked for (to help fix the template).
        alignment: input name -> alignment summary (``quality``: structure correlation after registration,
            ``registered``, ``fallback``: registration tried and rejected, ``reason``, ``confidence_mean``: the
            dense step's mean per-pixel confidence, None without it).
        seconds: wall time.
    """

    set_name: str
    label: str
    priors_dir: str
    inputs_dir: str
    template: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unmatched_inputs: list[str] = field(default_factory=list)
    unmatched_priors: list[str] = field(default_factory=list)
    alignment: dict[str, dict[str, Any]] = field(default_factory=dict)
    hint: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every input has a prior."""
        return not self.unmatched_inputs

    @property
    def exit_code(self) -> int:
        """0 when every input has a prior, else 1 (what the CLI returns)."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-able dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __str__(self) -> str:
        scores = [a["quality"] for a in self.alignment.values() if isinstance(a.get("quality"), (int, float))]
        registered = sum(1 for a in self.alignment.values() if a.get("registered"))
        fallbacks = sum(1 for a in self.alignment.values() if a.get("fallback"))
        lines = [
            f"import into prior set {self.set_name!r} (label {self.label}) from {self.priors_dir}",
            f"  inputs: {self.inputs_dir}   template: {self.template}",
            f"  matched {len(self.pairs)}: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} already imported",
        ]
        if self.alignment:
            quality = (f"; structure correlation mean {np.mean(scores):.3f}, min {np.min(scores):.3f}"
                       if scores else "")
            confs = [a["confidence_mean"] for a in self.alignment.values()
                     if isinstance(a.get("confidence_mean"), (int, float))]
            if confs:
                quality += f"; mean confidence {np.mean(confs):.3f}"
            lines.append(f"  alignment: {registered} registered, {fallbacks} kept unregistered (registration "
                         f"rejected){quality}")
        for title, names in (("inputs without a prior", self.unmatched_inputs),
                             ("priors matching no input", self.unmatched_priors)):
            if names:
                shown = ", ".join(names[:8]) + (f", ... ({len(names) - 8} more)" if len(names) > 8 else "")
                lines.append(f"  {title} ({len(names)}): {shown}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        lines.append(f"  {'OK' if self.ok else 'INCOMPLETE'} in {self.seconds:.1f} s")
        return "\n".join(lines)


@register_provider
class ReleasedProvider(Provider):
    """Priors that already exist as files (released study outputs, or your own); they are imported, not made.

    Args:
        set_name: the prior set the files are imported as; part of the key, so two released sets for the same
            inputs never collide.
        label: ``"released-gpt"`` for released GPT outputs, or another label.
        model: the model that made them, if known (e.g. ``"gpt-4o"``); stored, not sent anywhere.

    Example:
        >>> p = ReleasedProvider(set_name="ohaze-gpt4o")
        >>> p.key_fields()["provider"], p.key_fields()["params"], p.label
        ('released', {'set': 'ohaze-gpt4o'}, 'released-gpt')
    """

    name = "released"
    label = "released-gpt"

    def __init__(self, set_name: str, *, label: str = "released-gpt", model: str | None = None):
        self.set_name, self.label, self.model = set_name, label, model

    def params(self) -> dict[str, Any]:
        return {"set": self.set_name}


def _storable(data: bytes, decoded: np.ndarray) -> bytes:
    """The prior file's bytes as found when the cache stores that format (PNG, JPEG, WebP), else a PNG of it."""
    png = data[:8] == b"\x89PNG\r\n\x1a\n"
    jpeg = data[:3] == b"\xff\xd8\xff"
    webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if png or jpeg or webp:
        return data
    return encode_png(decoded)


def _progress(iterable, total: int, enabled: bool, desc: str):
    if not enabled or total == 0:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit="img", file=sys.stderr, leave=False)


def import_folder(priors_dir: str | Path, *, inputs_dir: str | Path, cache, set_name: str,
                  template: str | Callable[[str], str] = "{stem}", label: str = "released-gpt",
                  register: bool = True, progress: bool = True, model: str | None = None,
                  dense: bool | None = None) -> ImportReport:
    """Import a folder of priors into ``cache`` as the prior set ``set_name``.

    For each input image of ``inputs_dir`` the prior named by ``template`` is looked up in ``priors_dir``; it is
    decoded, aligned to the input (``align_with_confidence(prior, input, register=register, dense=dense)``: global
    registration, then the dense step and its per-pixel confidence, stored beside the aligned prior) and stored
    under the key
    ``request_key(provider="released", params={"set": set_name, "prior_sha256": ...},
    input_sha256=sha256(input file bytes))``: the
    prior file as found (PNG, JPEG and WebP byte for byte; other formats as PNG) and the aligned prior. The prior
    file's sha256 is part of the key, so re-running is idempotent (pairs already imported with the same prior
    file are skipped) and a changed prior file is stored anew and found instead of the old one.

    Args:
        priors_dir: folder of prior images.
        inputs_dir: folder of the degraded inputs they were made from.
        cache: a :class:`gpt4o_prior.cache.PriorCache` (or a root folder for one).
        set_name: name of the prior set, e.g. ``"ohaze-gpt4o"``.
        template: how a prior's file stem follows from its input's (module documentation).
        label: the set's label; ``"released-gpt"`` for released GPT outputs.
        register: let the alignment register the prior to the input (else only undo the size change).
        progress: show a progress bar on stderr.
        model: the model that made the priors, if known; recorded in the set.
        dense: run the dense alignment step and store its confidence (default: on when ``register`` is).

    Returns:
        :class:`ImportReport`; ``report.exit_code`` is 1 when some input has no prior.

    Raises:
        FileNotFoundError: a folder is missing.
        ValueError: ambiguous matches, a bad template, an unreadable image (the message names the file), or a
            set of the same name registered with different fields.
    """
    from ..align import align_with_confidence
    from ..cache import PriorCache, PriorSet, sha256_bytes

    if not isinstance(cache, PriorCache):
        cache = PriorCache(cache)
    priors_dir, inputs_dir = Path(priors_dir), Path(inputs_dir)
    started = time.time()
    pairs, unmatched_inputs, unmatched_priors = match_folders(priors_dir, inputs_dir, template=template)
    provider = ReleasedProvider(set_name, label=label, model=model)
    pset = PriorSet(name=set_name, description="priors imported from a folder of existing outputs "
                    "(gpt4o_prior.providers.released.import_folder)", **provider.set_fields())
    cache.register_set(pset)
    template_text = template if isinstance(template, str) else getattr(template, "__name__", "callable")
    report = ImportReport(set_name=set_name, label=label, priors_dir=str(priors_dir), inputs_dir=str(inputs_dir),
                          template=template_text,
                          unmatched_inputs=[p.name for p in unmatched_inputs],
                          unmatched_priors=[Path(p).relative_to(priors_dir).as_posix() for p in unmatched_priors])
    if unmatched_inputs:
        first = unmatched_inputs[0].name
        report.hint = (f"with template {template_text!r}, {first} looks for a prior named "
                       f"'{expand_template(template, first)}' + an image extension in {priors_dir}")
    for inp, prior_path in _progress(pairs, len(pairs), progress, f"import {set_name}"):
        report.pairs.append((inp.name, prior_path.name))
        input_bytes = inp.read_bytes()
        prior_bytes = prior_path.read_bytes()
        source_sha = sha256_bytes(input_bytes)
        prior_sha = sha256_bytes(prior_bytes)
        # the prior file's hash is part of the key: a re-released (changed) prior is a new entry, found instead of
        # the old one, while an unchanged one maps to the same key and is skipped
        key = pset.request_key(source_sha, params={**pset.params, "prior_sha256": prior_sha})
        old = cache.find(set_name, source_sha)
        if old is not None and old.key == key and old.ok and old.aligned_path is not None:
            report.unchanged.append(inp.name)
            report.alignment[inp.name] = old.meta.get("alignment_summary", {})
            continue
        input_img = decode_rgb(input_bytes, name=f"input {inp}")
        prior_img = decode_rgb(prior_bytes, name=f"prior {prior_path}")
        dense_on = register if dense is None else bool(dense)
        aligned, confidence, record = align_with_confidence(prior_img, input_img, register=register, dense=dense_on)
        if record.get("dense") is None:
            confidence = None  # no dense step: no confidence file (the prior reads as confidence 1)
        summary = {"quality": record.get("quality"), "registered": bool(record.get("registered", False)),
                   "fallback": bool(record.get("fallback", False)), "reason": record.get("reason"),
                   "confidence_mean": (record.get("dense") or {}).get("confidence_mean")}
        meta = {
            "provider": provider.name, "label": label, "model": model, "set": set_name,
            "prior_file": prior_path.relative_to(priors_dir).as_posix(), "prior_file_sha256": prior_sha,
            "prior_size": [int(prior_img.shape[1]), int(prior_img.shape[0])],
            "input_file": inp.name, "input_size": [int(input_img.shape[1]), int(input_img.shape[0])],
            "template": template_text, "alignment": record, "alignment_summary": summary,
        }
        cache.put(key, _storable(prior_bytes, prior_img), meta=meta, aligned=aligned, confidence=confidence,
                  set_name=set_name, source_sha256=source_sha, source_name=inp.name)
        (report.updated if old is not None else report.added).append(inp.name)
        report.alignment[inp.name] = summary
    report.seconds = time.time() - started
    return report
