"""Price table for GPT image models, cost from a response's ``usage``, and a cost estimate before sending.

Prices are USD per one million tokens, split as the API bills them: text input, image input (each with a cached
rate) and image output. The defaults were read from the model pages of developers.openai.com on
:data:`PRICES_DATE`; prices change, so override them with a JSON file (``--price-table`` in the CLI,
:func:`load_price_table` in code) of the form ``{"model-name": {"text_input": 5.0, "image_input": 8.0,
"image_output": 30.0, ...}}``. A model missing from the table has no known price: the CLI refuses ``--max-cost``
for it until a price is given, rather than guessing.

Example:
    >>> p = get_price("gpt-image-2.6-sunburst")
    >>> usage = {"input_tokens": 1100, "output_tokens": 4000,
    ...          "input_tokens_details": {"text_tokens": 100, "image_tokens": 1000}}
    >>> round(cost_from_usage(usage, p), 6)
    0.1285
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = ["Price", "PRICES_DATE", "DEFAULT_PRICES", "get_price", "load_price_table", "cost_from_usage",
           "estimate_tokens", "estimate_cost", "BATCH_DISCOUNT", "price_as_dict"]

PRICES_DATE = "2026-11-27"

#: The Batch API bills half the synchronous price.
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    """USD per one million tokens.

    Attributes:
        text_input / text_cached: prompt text tokens, fresh and cached.
        image_input / image_cached: input image tokens, fresh and cached.
        image_output: generated image tokens (also used for any text output tokens).
    """

    text_input: float
    image_input: float
    image_output: float
    text_cached: float | None = None
    image_cached: float | None = None


#: Defaults, read on PRICES_DATE from developers.openai.com/api/docs/models/<model>. Retired models are kept so that
#: old sidecars can still be priced.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-image-2.6-sunburst": Price(text_input=5.0, text_cached=1.25, image_input=8.0, image_cached=2.0,
                                    image_output=30.0),
    "gpt-image-2.5-sunburst": Price(text_input=5.0, text_cached=1.25, image_input=8.0, image_cached=2.0,
                                    image_output=30.0),
    # not on an OpenAI page we could read: $8 image in / $32 image out as listed by llmreference.com (2026-05-10),
    # text input assumed at the family's $5. Override with --price-table if your invoice says otherwise.
    "gpt-image-1.5": Price(text_input=5.0, text_cached=1.25, image_input=8.0, image_cached=2.0, image_output=32.0),
    "gpt-image-1-mini": Price(text_input=2.0, text_cached=0.2, image_input=2.5, image_cached=0.25,
                              image_output=8.0),
    "gpt-image-1": Price(text_input=5.0, text_cached=1.25, image_input=10.0, image_cached=2.5,
                         image_output=40.0),
}


def load_price_table(path: str | Path | None = None, *, base: Mapping[str, Price] | None = None
                     ) -> dict[str, Price]:
    """Return the default table updated with the models of a JSON file.

    Args:
        path: JSON file ``{"model": {"text_input": ..., "image_input": ..., "image_output": ...}}`` or None.
        base: table to start from (default :data:`DEFAULT_PRICES`).

    Raises:
        ValueError: the file is not a table of that form (the message names the file and the model).

    Example:
        >>> sorted(load_price_table())[:1]
        ['gpt-image-1']
    """
    table = dict(DEFAULT_PRICES if base is None else base)
    if path is None:
        return table
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"price table {path}: cannot read it as JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"price table {path}: expected an object mapping model names to prices")
    fields = set(Price.__dataclass_fields__)
    for model, entry in raw.items():
        if not isinstance(entry, dict) or not set(entry) <= fields or not {"text_input", "image_input",
                                                                              "image_output"} <= set(entry):
            raise ValueError(f"price table {path}: model {model!r} needs text_input, image_input, image_output "
                             f"(USD per 1M tokens; optional text_cached, image_cached), got {entry!r}")
        table[model] = Price(**{k: float(v) for k, v in entry.items()})
    return table


def get_price(model: str, table: Mapping[str, Price] | None = None) -> Price | None:
    """Price of ``model`` (exact name, else the longest known prefix, e.g. a dated snapshot), or None."""
    table = DEFAULT_PRICES if table is None else table
    if model in table:
        return table[model]
    best = max((m for m in table if model.startswith(m + "-")), key=len, default=None)
    return table[best] if best else None


def _get(obj: Any, name: str, default: Any = 0) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default) if obj.get(name) is not None else default
    value = getattr(obj, name, default)
    return default if value is None else value


def cost_from_usage(usage: Any, price: Price | None, *, discount: float = 1.0) -> float | None:
    """USD cost of one response from its ``usage`` (the SDK object or its dict form).

    Args:
        usage: ``input_tokens``, ``output_tokens`` and ``input_tokens_details`` (``text_tokens``,
            ``image_tokens``, optional ``cached_tokens``).
        price: the model's price, or None (then the cost is unknown: None).
        discount: multiplier, e.g. :data:`BATCH_DISCOUNT` for batch results.

    Returns:
        cost in USD, or None when the price or the usage is unknown.
    """
    if price is None or usage is None:
        return None
    details = _get(usage, "input_tokens_details", None)
    text_in = _get(details, "text_tokens")
    image_in = _get(details, "image_tokens")
    total_in = _get(usage, "input_tokens")
    if details is None or text_in + image_in == 0:
        text_in, image_in = total_in, 0            # no breakdown: bill everything as text (the cheaper rate)
    cached = _get(details, "cached_tokens")
    cached_img = min(cached, image_in)
    cached_txt = min(cached - cached_img, text_in)
    out = _get(usage, "output_tokens")
    usd = ((text_in - cached_txt) * price.text_input + cached_txt * (price.text_cached or price.text_input)
           + (image_in - cached_img) * price.image_input + cached_img * (price.image_cached or price.image_input)
           + out * price.image_output) / 1e6
    return usd * discount


# Output image tokens for a 1024x1024 image per quality, as the GPT image models bill them; other sizes scale
# with the area. "auto" is priced as "high" so that estimates err on the side of caution.
_OUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "auto": 4160}
_IN_IMAGE_TOKENS = {"low": 1000, "high": 6000}     # per input image, by input_fidelity (conservative)


def estimate_tokens(*, size: str, quality: str = "auto", input_fidelity: str | None = None,
                    prompt_tokens: int = 150) -> dict[str, Any]:
    """A conservative usage estimate of one edit request, in the shape of the API's ``usage``.

    Example:
        >>> estimate_tokens(size="1024x1024", quality="low")["output_tokens"]
        272
    """
    w, h = (int(v) for v in size.lower().split("x")) if "x" in size.lower() else (1536, 1024)
    out = int(round(_OUT_TOKENS_1024.get(quality, _OUT_TOKENS_1024["high"]) * (w * h) / (1024 * 1024)))
    img = _IN_IMAGE_TOKENS.get(input_fidelity or "low", _IN_IMAGE_TOKENS["high"])
    return {"input_tokens": prompt_tokens + img, "output_tokens": out,
            "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": img}}


def estimate_cost(*, model: str, size: str, quality: str = "auto", input_fidelity: str | None = None,
                  table: Mapping[str, Price] | None = None, discount: float = 1.0) -> float | None:
    """Estimated USD cost of one edit request (None when the model has no price).

    Example:
        >>> round(estimate_cost(model="gpt-image-1-mini", size="1024x1024", quality="low"), 5)
        0.00498
    """
    return cost_from_usage(estimate_tokens(size=size, quality=quality, input_fidelity=input_fidelity),
                           get_price(model, table), discount=discount)


def price_as_dict(price: Price) -> dict[str, Any]:
    """JSON-able form of a price (recorded in sidecars next to the cost)."""
    return asdict(price)

