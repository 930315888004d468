"""benchmarks/bench_realism.py: the real-data layout, the control targets, and a tiny end-to-end run on bundled
images (synthetic degradations, simulated priors), report and goals included."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
import bench_realism  # noqa: E402

from gpt4o_prior.data import bundled_images, read_rgb, write_png  # noqa: E402


def _fake_realdata(root: Path) -> Path:
    """The documented layout, <data>/<set>/<split>/{lq,gt}/NAME.png, from bundled crops."""
    imgs = [read_rgb(p)[:40, :48].copy() for p in bundled_images("all")[:3]]
    for name in ("dehaze_sots_indoor", "derain_rain100h"):
        for split in ("train", "val"):
            for i, img in enumerate(imgs):
                write_png(root / name / split / "gt" / f"{i}.png", img)
                write_png(root / name / split / "lq" / f"{i}.png", (img * 0.7 + 60).astype(np.uint8))
    return root


def test_real_layout_is_read_in_place_and_low_light_darkens_both_sets(tmp_path):
    data = _fake_realdata(tmp_path / "realdata")
    prep = bench_realism.prepare_real("dehaze", data=data, work=tmp_path / "work", seed=0, limit_train=2)
    assert prep["train"].lq_dir == data / "dehaze_sots_indoor" / "train" / "lq" and len(prep["train"].names) == 2
    assert "real degraded" in prep["label"]
    low = bench_realism.prepare_real("lowlight", data=data, work=tmp_path / "work", seed=0)
    assert len(low["val"].names) == 6 and {n.split("_")[0] for n in low["val"].names} == {"sots", "rain100h"}
    dark = read_rgb(low["val"].lq_dir / f"{low['val'].names[0]}.png").mean()
    assert dark < read_rgb(low["val"].gt_dir / f"{low['val'].names[0]}.png").mean() - 20
    assert "darkened synthetically" in low["label"]
    with pytest.raises(FileNotFoundError, match="expected the layout"):
        bench_realism.prepare_real("derain", data=tmp_path / "nothing", work=tmp_path / "work", seed=0)


def test_control_targets_are_other_images_at_this_size(tmp_path):
    data = _fake_realdata(tmp_path / "realdata")
    ds = bench_realism.prepare_real("derain", data=data, work=tmp_path / "w", seed=0)["val"]
    folder = bench_realism.control_targets(ds, tmp_path / "control")
    for i, name in enumerate(ds.names):
        got = read_rgb(folder / f"{name}.png")
        assert got.shape == read_rgb(ds.lq_dir / f"{name}.png").shape
        assert np.array_equal(got, read_rgb(ds.gt_dir / f"{ds.names[(i + 1) % len(ds.names)]}.png"))


@pytest.mark.timeout(600)
def test_tiny_run_on_bundled_images_reports_every_variant_and_goal(tmp_path):
    out = tmp_path / "out"
    rc = bench_realism.main(["--bundled", "--tasks", "dehaze", "--seeds", "1", "--iters", "2", "--crop", "32",
                             "--limit-train", "2", "--limit-val", "2", "--width", "8", "--no-progress",
                             "--part", "main", "grids", "--grid-images", "1", "--out", str(out)])
    assert rc == 0
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert {r["variant"] for r in runs.values()} == {"none", "today", "new", "control"}
    new = runs["dehaze/seed1/iters2/new/generative"]
    assert new["prior_set"].endswith("-dense") and 0 <= new["prior_alone"]["confidence_mean"] <= 1
    assert "confidence: true" in new["prior_line"] and "confidence: false" in runs[
        "dehaze/seed1/iters2/today/generative"]["prior_line"]
    control = runs["dehaze/seed1/iters2/control/generative"]
    assert control["prior_alone"]["confidence_mean"] < new["prior_alone"]["confidence_mean"]
    text = (out / "results.md").read_text()
    assert "bundled images, synthetic degradations" in text and "control (another image's prior)" in text
    assert (out / "grids").is_dir() and any((out / "grids").iterdir())
    merged = tmp_path / "merged"
    assert bench_realism.main(["--merge", str(out), "--out", str(merged), "--iters", "2"]) == 0
    assert "grids/" in (merged / "results.md").read_text() or "../out/grids" in (merged / "results.md").read_text()


def test_bench_confidence_on_the_documented_layout(tmp_path, capsys):
    import bench_confidence

    data = _fake_realdata(tmp_path / "realdata")
    assert bench_confidence.main(["--data", str(data), "--tasks", "derain", "--pairs", "2",
                                  "--out", str(tmp_path / "out")]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())["derain"]
    assert res["pairs"] == 2 and 0 <= res["v1_own"] <= 1 and 0 <= res["v2_other"] <= 1
    assert "| derain | 2 |" in capsys.readouterr().out
