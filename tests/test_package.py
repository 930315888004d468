"""The package installs as one distribution, imports light, and exposes its command."""
import json
import shutil
import subprocess
import sys

HEAVY = ["basicsr", "mmengine", "mmagic", "mmcv", "openai"]


def test_import_does_not_pull_frameworks():
    code = (
        "import sys, json, gpt4o_prior\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_distribution_metadata():
    from importlib.metadata import distribution

    dist = distribution("gpt4o-prior")
    assert dist.metadata["Requires-Python"] == ">=3.10"
    extras = set(dist.metadata.get_all("Provides-Extra"))
    assert {"basicsr", "mmagic", "dev", "all"} <= extras
    scripts = [ep for ep in dist.entry_points if ep.group == "console_scripts"]
    assert [ep.name for ep in scripts] == ["gpt4o-prior"]


def test_console_script_installed():
    assert shutil.which("gpt4o-prior", path=str(__import__("pathlib").Path(sys.executable).parent))
