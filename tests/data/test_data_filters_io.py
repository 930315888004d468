"""numpy filters against brute force; image reading edge cases."""
import numpy as np
import pytest
from PIL import Image

from gpt4o_prior.data import read_rgb, write_png
from gpt4o_prior.data.filters import box_filter, gaussian_blur, guided_filter, median_filter_1d, min_filter


def _brute(x, r, fn):
    p = np.pad(x, r, mode="reflect")
    return np.array([[fn(p[i:i + 2 * r + 1, j:j + 2 * r + 1]) for j in range(x.shape[1])]
                     for i in range(x.shape[0])])


def test_box_and_min_filters_match_brute_force():
    x = np.random.default_rng(0).random((9, 11))
    for r in (1, 2, 3):
        assert np.allclose(box_filter(x, r), _brute(x, r, np.mean))
        assert np.allclose(min_filter(x, r), _brute(x, r, np.min))
    assert box_filter(np.random.default_rng(1).random((6, 7, 3)), 2).shape == (6, 7, 3)


def test_median_gaussian_and_guided():
    x = np.zeros((7, 7)); x[:, 3] = 1.0  # a one-pixel vertical line
    assert median_filter_1d(x, 1, axis=1).max() == 0.0  # removed across it
    assert median_filter_1d(x, 1, axis=0)[:, 3].min() == 1.0  # kept along it
    noisy = np.random.default_rng(0).random((32, 32))
    assert gaussian_blur(noisy, 2.0).std() < 0.5 * noisy.std()
    step = np.zeros((16, 16)); step[:, 8:] = 1.0
    out = guided_filter(step, step + np.random.default_rng(1).normal(0, 0.05, step.shape), 3, 1e-3)
    assert abs(out[:, :6].mean()) < 0.05 and abs(out[:, 10:].mean() - 1) < 0.05  # edge preserved


def test_read_rgb_converts_modes(tmp_path):
    Image.fromarray(np.full((4, 5), 9, np.uint8)).save(tmp_path / "g.png")
    rgba = np.zeros((4, 5, 4), np.uint8); rgba[..., 0] = 200; rgba[..., 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(np.full((4, 5), 65535, np.uint16)).save(tmp_path / "w.png")
    assert read_rgb(tmp_path / "g.png").tolist()[0][0] == [9, 9, 9]
    assert read_rgb(tmp_path / "a.png")[0, 0].tolist() == [200, 0, 0]
    assert read_rgb(tmp_path / "w.png")[0, 0].tolist() == [255, 255, 255]
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.png is not a readable image"):
        read_rgb(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_rgb(tmp_path / "missing.png")


def test_transparent_pixels_read_as_the_frameworks_read_them(tmp_path):
    """Alpha is dropped, as OpenCV (BasicSR's and MMagic's loaders) drops it: restore sees what training saw."""
    import cv2  # what basicsr.utils.imfrombytes and mmcv's default backend decode with

    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., :3] = (200, 10, 60)
    rgba[0, :, 3] = 255  # first row opaque, the rest fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    ours = read_rgb(tmp_path / "t.png")
    theirs = cv2.imdecode(np.frombuffer((tmp_path / "t.png").read_bytes(), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal(ours, theirs) and ours[2, 3].tolist() == [200, 10, 60]


def test_write_png_is_atomic_and_exact(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    p = write_png(tmp_path / "sub" / "x.png", img)
    assert np.array_equal(read_rgb(p), img)
    assert [q.name for q in p.parent.iterdir()] == ["x.png"]
