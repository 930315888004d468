"""The ``gpt4o-prior`` command: fill, inspect and check a prior cache.

Verbs: ``generate`` (OpenAI image edits, or offline priors), ``batch`` (``submit`` / ``status`` / ``collect`` with the
OpenAI Batch API), ``import`` (released GPT-4o outputs), ``align``, ``verify``, ``stats``; and the verbs adapters add
(:mod:`gpt4o_prior.commands`): the BasicSR adapter's ``demo`` (the bundled end-to-end demo) and ``restore`` (apply a
trained network to a folder). Run ``gpt4o-prior VERB --help`` for each verb's options and examples.

Each core verb is a :class:`~gpt4o_prior.commands.Command` in its own module of this package (``cli/generate.py``,
``cli/batch.py``, ...), as an adapter's verbs are; the work itself is the library's (the verbs parse, call and
print).

Example:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    gpt4o-prior ...
    0
"""
from __future__ import annotations

import argparse
import sys
from typing import Mapping, Sequence

from ..commands import Command, CommandUnavailable, command_names, load_command
from ..version import __version__
from .align import ALIGN
from .batch import BATCH
from .common import RAW, error
from .generate import GENERATE
from .import_released import IMPORT
from .stats import STATS
from .verify import VERIFY

__all__ = ["main", "build_parser", "CORE_VERBS", "CORE_COMMANDS", "commands_for"]

CORE_COMMANDS: dict[str, Command] = {c.name: c for c in (GENERATE, BATCH, IMPORT, ALIGN, VERIFY, STATS)}
"""The core's verbs, in the order of the help; every other verb comes from an adapter."""

#: The verbs of the core; every other verb comes from an adapter (:mod:`gpt4o_prior.commands`).
CORE_VERBS = tuple(CORE_COMMANDS)


def _load_all_commands() -> dict[str, Command]:
    """Every adapter verb that loads here (one that does not is left out of the parser; asking for it says why)."""
    out = {}
    for name in command_names():
        if name in CORE_VERBS:
            continue
        try:
            out[name] = load_command(name)
        except CommandUnavailable:
            continue
    return out


def commands_for(argv: Sequence[str]) -> dict[str, Command]:
    """The adapter verbs the parser needs for ``argv``: none for a core verb or ``--version``, the one asked for,
    or all of them (the overview, or an unknown verb, whose error lists the choices).

    Raises:
        CommandUnavailable: the verb asked for comes from an adapter that cannot be imported here.
    """
    verb = next((a for a in argv if not a.startswith("-")), None)
    if verb in CORE_VERBS or (verb is None and "--version" in argv and not {"-h", "--help"} & set(argv)):
        return {}
    if verb is not None and verb in command_names():
        return {verb: load_command(verb)}
    return _load_all_commands()


def build_parser(commands: Mapping[str, Command] | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``gpt4o-prior``: the core's verbs plus the adapter verbs in ``commands`` (default:
    every adapter verb that can be loaded here, see :mod:`gpt4o_prior.commands`)."""
    if commands is None:
        commands = _load_all_commands()
    verbs = ", ".join([*CORE_VERBS, *commands])
    parser = argparse.ArgumentParser(prog="gpt4o-prior", formatter_class=RAW, description=__doc__.split("\n\n")[0]
                                     + f"\n\nverbs: {verbs}")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for command in (*CORE_COMMANDS.values(), *commands.values()):
        command.add_arguments(sub.add_parser(command.name, formatter_class=RAW, help=command.help,
                                             description=command.description or command.help,
                                             epilog=command.epilog or None))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (0: success; 1: some inputs without a prior; 2: usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        commands = commands_for(argv)
    except CommandUnavailable as e:
        return error(str(e))
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    if args.version:
        print(f"gpt4o-prior {__version__}")
        return 0
    if args.verb is None:
        parser.print_help()
        return 2
    handlers = {name: command.run for name, command in {**CORE_COMMANDS, **commands}.items()}
    try:
        return handlers[args.verb](args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as e:
        from ..secrets import redact

        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return error(redact(str(msg)))
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
