"""The core never imports a training framework or an adapter (DESIGN: adapters import the core, never the
reverse), not even inside a function; and adapter verbs reach the command line through gpt4o_prior.commands."""
import ast
import os
import subprocess
import sys

import pytest

from gpt4o_prior.commands import Command, command_names, load_command, register_command, unregister_command
from tests.helpers import REPO

ROOT = REPO
FORBIDDEN = {"basicsr", "mmengine", "mmcv", "mmagic", "basicsr_plugins", "mmagic_plugins"}


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
            yield node.lineno, node.args[0].value


def test_the_core_imports_no_framework_and_no_adapter():
    files = sorted((ROOT / "gpt4o_prior").rglob("*.py"))
    assert len(files) > 50
    bad = [f"{f.relative_to(ROOT)}:{line}: {name}" for f in files
           for line, name in _imports(ast.parse(f.read_text(), str(f))) if name.split(".")[0] in FORBIDDEN]
    assert bad == []


PACKAGES = ("gpt4o_prior", "basicsr_plugins", "mmagic_plugins")


def _private_uses(tree: ast.AST):
    """Private names (``_x``, not dunders) one module takes from another module of ours: imported by name, or
    read as an attribute of a module of ours that was imported."""
    ours = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in PACKAGES):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield node.lineno, alias.name
                ours.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    ours.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ours
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            yield node.lineno, f"{node.value.id}.{node.attr}"


def test_no_module_uses_another_modules_private_names():
    files = sorted(f for pkg in PACKAGES for f in (ROOT / pkg).rglob("*.py"))
    bad = [f"{f.relative_to(ROOT)}:{line}: {name}" for f in files
           for line, name in _private_uses(ast.parse(f.read_text(), str(f)))]
    assert bad == []


def test_the_private_name_checker_sees_both_forms():
    code = ("from .align import _cv2, fit_to_size\nfrom . import store\nimport numpy as np\n"
            "def f(self):\n    store._lookup(1); np._x; self._y; __name__\n")
    assert [n for _, n in _private_uses(ast.parse(code))] == ["_cv2", "store._lookup"]


def test_the_checker_sees_lazy_and_dynamic_imports():
    code = ("def f():\n    import basicsr.archs\n    from mmagic_plugins import x\n"
            "    importlib.import_module('mmengine.runner')\n")
    assert [n.split(".")[0] for _, n in _imports(ast.parse(code))] == ["basicsr", "mmagic_plugins", "mmengine"]


def test_adapter_verbs_come_from_entry_points():
    assert {"demo", "restore"} <= set(command_names())
    demo = load_command("demo")
    assert isinstance(demo, Command) and demo.name == "demo" and "examples:" in demo.epilog
    with pytest.raises(KeyError):
        load_command("no-such-verb")


def test_a_registered_verb_runs_and_core_verbs_load_no_adapter(capsys):
    from gpt4o_prior.cli import commands_for as _commands_for, main

    register_command(Command(name="echo-test", help="echo", add_arguments=lambda p: p.add_argument("word"),
                             run=lambda a: print(a.word) or 3))
    try:
        assert main(["echo-test", "hi"]) == 3 and capsys.readouterr().out == "hi\n"
        assert _commands_for(["stats", "--cache", "x"]) == {} and _commands_for(["--version"]) == {}
    finally:
        unregister_command("echo-test")
    with pytest.raises(TypeError, match="Command"):
        register_command("demo")


def test_a_verb_whose_adapter_cannot_be_imported_says_what_to_install(tmp_path):
    dist = tmp_path / "broken_adapter-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-adapter\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[gpt4o_prior.commands]\nbroken = mmagic_plugins_missing.cli:VERB\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "gpt4o_prior", "broken", "--x"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 2
    assert "gpt4o-prior broken" in r.stderr and "cannot be imported" in r.stderr and "mmagic_plugins_missing" in r.stderr
    # the overview still works, without the broken verb
    r = subprocess.run([sys.executable, "-m", "gpt4o_prior", "--help"], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "restore" in r.stdout and "broken" not in r.stdout
