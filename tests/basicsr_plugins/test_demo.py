"""basicsr_plugins.demo: a tiny end-to-end demo (4 training / 2 validation images of 32 px, 3 iterations per run)."""
import argparse
import json

import pytest

from basicsr_plugins.demo import STAND_IN, add_demo_arguments, config_from_args, option_text, run_demo, run_demo_config

TINY = ["--iters", "3", "--width", "8", "--batch", "2", "--crop", "32", "--limit-train", "4", "--limit-val", "2",
        "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    args = add_demo_arguments(argparse.ArgumentParser()).parse_args(["--out", str(out), *TINY])
    return out, run_demo(args)


def test_demo_runs_and_writes_the_report(demo, capsys):
    out, code = demo
    assert code == 0
    report = (out / "report" / "report.md").read_text()
    assert STAND_IN in report and "gpt4o-prior generate" in report and "gpt4o-prior restore" in report
    for label in ("degraded input", "classical prior alone", "simulated prior alone", "NAFNet, no prior",
                  "NAFNet + classical prior", "NAFNet + simulated GPT-like prior"):
        assert f"| {label}" in report
    grids = sorted((out / "report" / "grids" / "dehaze").glob("*.png"))
    assert len(grids) == 2


def test_demo_runs_share_everything_but_the_prior_line(demo):
    out, _ = demo
    opts = {r: (out / "options" / f"demo_dehaze_{r}.yml").read_text().splitlines()
            for r in ("baseline", "classical", "simulated")}
    for run, set_name in (("classical", "demo-dehaze-classical"), ("simulated", "demo-dehaze-simulated-aligned")):
        extra = [line for line in opts[run] if line not in opts["baseline"]]
        assert len(opts[run]) == len(opts["baseline"]) + 1 and len(extra) == 1
        assert extra[0].startswith("prior: {cache: ") and f"set: {set_name}}}" in extra[0]


def test_demo_numbers_match_basicsr_validation(demo):
    out, _ = demo
    rec = json.loads((out / "report" / "results.json").read_text())["tasks"]["dehaze"]
    trained = [r for r in rec["rows"] if r["what"].startswith("NAFNet")]
    assert len(trained) == 3
    for row in trained:  # restore's outputs scored with BasicSR's metrics == BasicSR's own validation
        assert row["psnr"] == pytest.approx(row["basicsr_psnr"], abs=1e-3)
    for run in rec["runs"].values():
        assert run["checkpoint"].endswith("net_g_latest.pth")
    restored = sorted(p.name for p in (out / "restored" / "dehaze" / "simulated").glob("*.png"))
    assert len(restored) == 2


def test_demo_rejects_bad_settings(tmp_path):
    args = add_demo_arguments(argparse.ArgumentParser()).parse_args(["--out", str(tmp_path), "--iters", "0"])
    with pytest.raises(ValueError, match="at least 1"):
        run_demo_config(config_from_args(args))
    with pytest.raises(SystemExit):
        add_demo_arguments(argparse.ArgumentParser()).parse_args(["--task", "deblur"])


def test_option_text_is_valid_yaml():
    import yaml

    text = option_text(task="derain", train_lq="a", train_gt="b", val_lq="c", val_gt="d", iters=7, width=8,
                       batch=2, gt_size=32, lr=1e-3, seed=3, prior_line="prior: {cache: p, set: s}")
    opt = yaml.safe_load(text)
    assert opt["train"]["total_iter"] == 7 and opt["prior"] == {"cache": "p", "set": "s"}
    assert opt["num_gpu"] == 0 and opt["network_g"]["width"] == 8
