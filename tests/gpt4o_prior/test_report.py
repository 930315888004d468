"""gpt4o_prior.report: the metrics (equal to BasicSR's: tests/gpt4o_prior/test_metrics.py), the Markdown table,
labelled grids."""
import numpy as np
import pytest

from gpt4o_prior.data import write_png
from gpt4o_prior.report import folder_metrics, image_metrics, make_grid, markdown_table, save_grid


def _img(seed, size=16):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_metrics_without_basicsr():
    a, b = _img(0), _img(1)
    m = image_metrics(a, b)
    assert 5 < m["psnr"] < 10 and -1 < m["ssim"] < 0.2
    assert image_metrics(a, a)["psnr"] == float("inf") and image_metrics(a, a)["ssim"] == pytest.approx(1.0)


def test_metrics_reject_bad_images():
    with pytest.raises(ValueError, match="same shape"):
        image_metrics(_img(0, 16), _img(0, 8))
    with pytest.raises(TypeError, match="gt must be an \\(H, W, 3\\) uint8 RGB array.*needs dtype uint8"):
        image_metrics(_img(0), _img(0).astype(np.float32))


def test_folder_metrics(tmp_path):
    for n in ("a", "b"):
        write_png(tmp_path / "gt" / f"{n}.png", _img(0))
        write_png(tmp_path / "pred" / f"{n}.png", np.clip(_img(0).astype(int) + (5 if n == "a" else 10), 0, 255)
                  .astype(np.uint8))
    m = folder_metrics(tmp_path / "pred", tmp_path / "gt")
    assert set(m["per_image"]) == {"a", "b"}
    assert m["psnr"] == pytest.approx((m["per_image"]["a"]["psnr"] + m["per_image"]["b"]["psnr"]) / 2)
    with pytest.raises(FileNotFoundError, match="c.png is missing"):
        folder_metrics(tmp_path / "pred", tmp_path / "gt", ["a", "c"])


def test_markdown_table():
    text = markdown_table([{"what": "x|y", "psnr": 20.123, "ssim": 0.5}, {"what": "z", "psnr": None}],
                          columns=[("", "what"), ("PSNR", "psnr"), ("SSIM", "ssim")], digits={"ssim": 3})
    assert text.splitlines() == ["|  | PSNR | SSIM |", "| --- | ---: | ---: |", "| x\\|y | 20.12 | 0.500 |",
                                 "| z | - | - |"]


def test_grid_layout_and_labels(tmp_path):
    a = np.zeros((20, 30, 3), np.uint8)
    g = make_grid([("input", a), ("ground truth", a + 200)], scale=2, label_height=14, pad=2)
    assert g.size == (30 * 2 * 2 + 2, 14 + 40)
    arr = np.asarray(g)
    assert (arr[:14] < 128).any()            # label text drawn
    assert (arr[14:, :60] == 0).all() and (arr[14:, 62:] == 200).all()
    p = save_grid(tmp_path / "sub" / "g.png", [("x", a)])
    assert p.is_file()
    with pytest.raises(ValueError, match="panel 'x'"):
        make_grid([("x", np.zeros((4, 4), np.uint8))])
