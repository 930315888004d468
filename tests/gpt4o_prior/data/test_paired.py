"""The paired dataset builder: BasicSR layout, reuse, rebuild, errors."""
import json

import numpy as np
import pytest

from gpt4o_prior.data import image_seed, make_paired_dataset, read_rgb


def test_layout_matches_basicsr(tmp_path):
    ds = make_paired_dataset(tmp_path, "dehaze", split="val")
    assert ds.root == tmp_path / "dehaze" / "val"
    lq = sorted(p.name for p in ds.lq_dir.glob("*.png"))
    gt = sorted(p.name for p in ds.gt_dir.glob("*.png"))
    assert lq == gt == [f"{n}.png" for n in ds.names] and len(lq) == 8
    for lq_path, gt_path in ds.pairs():
        a, b = read_rgb(lq_path), read_rgb(gt_path)
        assert a.shape == b.shape == (128, 128, 3)
        assert not np.array_equal(a, b)
    meta = json.loads((ds.root / "meta.json").read_text())
    assert set(meta["images"]) == set(ds.names)
    assert meta["images"][ds.names[0]]["seed"] == image_seed(0, "dehaze", ds.names[0])


def test_rerun_reuses_and_changes_rebuild(tmp_path):
    ds = make_paired_dataset(tmp_path, "derain", split="train", limit=3, crop=32)
    first = {p: p.stat().st_mtime_ns for p in ds.lq_dir.glob("*.png")}
    again = make_paired_dataset(tmp_path, "derain", split="train", limit=3, crop=32)
    assert again.names == ds.names and again.params == ds.params
    assert {p: p.stat().st_mtime_ns for p in ds.lq_dir.glob("*.png")} == first
    other = make_paired_dataset(tmp_path, "derain", split="train", limit=2, crop=32, seed=1)
    assert len(other.names) == 2 and len(list(other.lq_dir.glob("*.png"))) == 2  # stale file removed
    assert read_rgb(other.lq_dir / f"{other.names[0]}.png").shape == (32, 32, 3)
    assert other.params[other.names[0]]["seed"] == image_seed(1, "derain", other.names[0])


def test_image_seeds_do_not_depend_on_the_other_images(tmp_path):
    arrays = {f"im{i}": np.full((16, 16, 3), 40 * i, np.uint8) for i in range(3)}
    a = make_paired_dataset(tmp_path / "a", "lowlight", images=arrays, split="x")
    b = make_paired_dataset(tmp_path / "b", "lowlight", images={"im1": arrays["im1"]}, split="x")
    assert np.array_equal(read_rgb(a.lq_dir / "im1.png"), read_rgb(b.lq_dir / "im1.png"))
    fixed = make_paired_dataset(tmp_path / "c", "lowlight", images=arrays, split="x", exposure=0.5)
    assert all(r["exposure"] == 0.5 for r in fixed.params.values())


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown task"):
        make_paired_dataset(tmp_path, "deblur")
    with pytest.raises(ValueError, match="no bundled images"):
        make_paired_dataset(tmp_path, "dehaze", split="test")
    with pytest.raises(ValueError, match="no images"):
        make_paired_dataset(tmp_path, "dehaze", images=[])
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for d in ("x", "y"):
        from gpt4o_prior.data import write_png

        write_png(tmp_path / d / "same.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="share the name 'same'"):
        make_paired_dataset(tmp_path / "o", "dehaze", images=[tmp_path / "x" / "same.png", tmp_path / "y" / "same.png"])
    with pytest.raises(ValueError, match="crop=64 is larger"):
        make_paired_dataset(tmp_path / "o", "dehaze", images=[tmp_path / "x" / "same.png"], crop=64)
