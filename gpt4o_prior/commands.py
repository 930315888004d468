"""Verbs that adapters add to the ``gpt4o-prior`` command: the :class:`Command` record and where they are found.

The core's own verbs (``generate``, ``batch``, ``import``, ``align``, ``verify``, ``stats``) know nothing of a
training framework. A framework adapter adds its verbs (the BasicSR adapter: ``demo`` and ``restore``) in one of two
ways:

- **an entry point** in the group ``gpt4o_prior.commands`` of its distribution, naming a :class:`Command` object;
  its name is the verb. This project declares its adapter's verbs in ``setup.py``::

      entry_points={"gpt4o_prior.commands": ["demo = basicsr_plugins.commands:DEMO",
                                             "restore = basicsr_plugins.commands:RESTORE"]}

  A third-party package does the same in its own ``setup.py`` / ``pyproject.toml``.
- :func:`register_command`, in-process (a script that calls ``gpt4o_prior.cli.main`` itself, or a test).

Entry points are loaded lazily: a core verb imports no adapter, an adapter verb imports only its own adapter, and
only the overview (``gpt4o-prior --help``, or no verb) loads them all. A verb whose adapter cannot be imported
(its framework is not installed) says so, and which extra to install, when it is asked for.

Example:
    >>> import argparse
    >>> cmd = Command(name="hello", help="say hello", add_arguments=lambda p: p.add_argument("--who", default="you"),
    ...               run=lambda args: print(f"hello {args.who}") or 0)
    >>> _ = register_command(cmd)
    >>> from gpt4o_prior.cli import main
    >>> main(["hello", "--who", "there"])
    hello there
    0
    >>> unregister_command("hello")
"""
from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

__all__ = ["Command", "ENTRY_POINT_GROUP", "CommandUnavailable", "register_command", "unregister_command",
           "command_names", "load_command"]

#: The entry-point group in which adapters declare their verbs.
ENTRY_POINT_GROUP = "gpt4o_prior.commands"


@dataclass(frozen=True)
class Command:
    """One verb of ``gpt4o-prior``.

    Attributes:
        name: the verb (``gpt4o-prior NAME ...``).
        help: one line, shown in ``gpt4o-prior --help``.
        add_arguments: adds the verb's arguments to the ``argparse`` sub-parser it is given.
        run: runs the verb from the parsed arguments and returns the exit code (0 success, 1 the verb's own
            "not everything done", 2 usage or input error).
        description: the verb's ``--help`` text (default: ``help``).
        epilog: examples shown at the end of the verb's ``--help``.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], Any]
    run: Callable[[argparse.Namespace], int]
    description: str = ""
    epilog: str = ""


class CommandUnavailable(RuntimeError):
    """An adapter verb whose adapter cannot be imported here (its framework is missing, or the adapter is broken)."""


_REGISTERED: dict[str, Command] = {}
_LOADED: dict[str, Command] = {}


def register_command(command: Command) -> Command:
    """Add a verb in this process (it takes precedence over an entry point of the same name); returns it."""
    if not isinstance(command, Command):
        raise TypeError(f"register_command needs a gpt4o_prior.commands.Command, got {type(command).__name__}")
    _REGISTERED[command.name] = command
    return command


def unregister_command(name: str) -> None:
    """Remove a verb added by :func:`register_command` (nothing happens for an unknown name)."""
    _REGISTERED.pop(name, None)


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict[str, metadata.EntryPoint]:
    """The declared adapter verbs, read from the installed distributions once per process."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def command_names() -> list[str]:
    """Every adapter verb, registered or declared by an entry point, without importing any adapter."""
    return sorted(set(_REGISTERED) | set(_entry_points()))


def load_command(name: str) -> Command:
    """The :class:`Command` of an adapter verb (its adapter imported now, once).

    Raises:
        KeyError: no adapter declares ``name``.
        CommandUnavailable: its adapter cannot be imported, or its entry point names no ``Command``; the message
            names the entry point and the extra to install.
    """
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _LOADED:
        return _LOADED[name]
    eps = _entry_points()
    if name not in eps:
        raise KeyError(name)
    ep = eps[name]
    dist = getattr(ep, "dist", None)
    where = f"entry point {name} = {ep.value}" + (f" of {dist.name}" if dist is not None else "")
    try:
        command = ep.load()
    except ImportError as err:
        module = ep.value.split(":")[0].split(".")[0]
        hint = {"basicsr_plugins": "pip install 'gpt4o-prior[basicsr]'",
                "mmagic_plugins": "pip install 'gpt4o-prior[mmagic]'"}.get(module, f"install what {module} needs")
        raise CommandUnavailable(f"`gpt4o-prior {name}` comes from an adapter that cannot be imported here "
                                 f"({where}: {type(err).__name__}: {err}); {hint}") from err
    if not isinstance(command, Command) or command.name != name:
        raise CommandUnavailable(f"{where} must name a gpt4o_prior.commands.Command called {name!r}, got "
                                 f"{type(command).__name__}")
    _LOADED[name] = command
    return command
