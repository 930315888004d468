"""What the verbs of ``gpt4o-prior`` share: the error line, the help formatter, JSON output and the OpenAI settings.

Example:
    >>> jsonable_text({"a": 1})
    '{\\n "a": 1\\n}'
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["RAW", "error", "jsonable_text", "add_openai_settings", "add_connection_settings", "openai_provider",
           "openai_client", "endpoint"]

RAW = argparse.RawDescriptionHelpFormatter
"""The help formatter of every verb (the examples keep their line breaks)."""


def error(msg: str) -> int:
    """Print ``gpt4o-prior: error: MSG`` on stderr and return the usage-error exit code, 2."""
    print(f"gpt4o-prior: error: {msg}", file=sys.stderr)
    return 2


def jsonable_text(obj: Any) -> str:
    """``obj`` (a dataclass, or anything JSON can write with ``str`` for the rest) as indented JSON text."""
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict
        obj = asdict(obj)
    try:
        return json.dumps(obj, indent=1, default=str)
    except TypeError:
        return str(obj)


def add_connection_settings(c: Any, *, documented: bool = True) -> None:
    """The OpenAI connection flags on a parser or argument group ``c`` (``--base-url``, ``--azure-endpoint``,
    ``--api-version``, ``--timeout``, ``--max-retries``); ``documented=False`` adds them without help texts
    (``batch status`` / ``collect``)."""
    def h(text: str) -> str | None:
        return text if documented else None

    c.add_argument("--base-url", default=None,
                   help=h("OpenAI-compatible endpoint (default: OPENAI_BASE_URL or api.openai.com)"))
    c.add_argument("--azure-endpoint", default=os.environ.get("AZURE_OPENAI_ENDPOINT"),
                   help=h("Azure OpenAI endpoint (default: AZURE_OPENAI_ENDPOINT); --model is then the deployment"))
    c.add_argument("--api-version", default=os.environ.get("OPENAI_API_VERSION"), help=h("Azure API version"))
    c.add_argument("--timeout", type=float, default=300.0, help=h("seconds per request (default: 300)"))
    c.add_argument("--max-retries", type=int, default=2, help=h("the SDK's own retries per attempt (default: 2)"))


def add_openai_settings(p: argparse.ArgumentParser) -> None:
    """The request settings (part of the cache key) and the connection flags of the OpenAI verbs."""
    g = p.add_argument_group("request settings (part of the cache key)")
    g.add_argument("--task", default="restore", help="prompt: dehaze, derain, lowlight, restore (default: restore)")
    g.add_argument("--prompt-version", type=int, default=None, help="prompt version (default: the latest)")
    g.add_argument("--model", default=None, help="image model or Azure deployment name (required for openai)")
    g.add_argument("--size", default="auto", help="output size WxH, or auto to choose one per input (default)")
    g.add_argument("--quality", default="auto", help="low, medium, high, auto (default: auto)")
    g.add_argument("--input-fidelity", default="auto",
                   help="auto (high where the model supports it), high, low, none (default: auto)")
    g.add_argument("--fit", default="pad", choices=["pad", "resize", "crop"],
                   help="how the input is brought to the size (default: pad; the transform is recorded)")
    c = p.add_argument_group("connection")
    add_connection_settings(c)
    c.add_argument("--price-table", default=None, help="JSON file of prices overriding the built-in table")


def openai_provider(args: argparse.Namespace):
    """The :class:`~gpt4o_prior.providers.openai_images.OpenAIImagesProvider` of the parsed request settings."""
    from ..providers.openai_images import OpenAIImagesProvider

    if not args.model:
        raise ValueError("--model is required for OpenAI priors (e.g. --model gpt-image-1.5): model names change, "
                         "so there is no default")
    fid = None if str(args.input_fidelity).lower() == "none" else args.input_fidelity
    return OpenAIImagesProvider(model=args.model, task=args.task, prompt_version=args.prompt_version,
                                size=args.size, quality=args.quality, input_fidelity=fid, fit=args.fit)


def openai_client(args: argparse.Namespace, *, async_client: bool):
    """The SDK client of the parsed connection flags."""
    from ..providers.openai_images import make_client

    return make_client(base_url=args.base_url, azure_endpoint=args.azure_endpoint, api_version=args.api_version,
                       timeout=args.timeout, max_retries=args.max_retries, async_client=async_client)


def endpoint(args: argparse.Namespace) -> str:
    """Where requests go, for the run's first line (never a key)."""
    if args.azure_endpoint:
        return f"Azure {args.azure_endpoint}"
    return args.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
