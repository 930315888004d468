"""Synthetic degradations: deterministic, physically sensible, clear errors."""
import json

import numpy as np
import pytest

from gpt4o_prior.data import TASKS, add_haze, add_rain, bundled_images, darken, degrade, depth_proxy, read_rgb


@pytest.fixture(scope="module")
def img():
    return read_rgb(bundled_images("val")[0])[:64, :64].copy()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_seeded_and_shape_preserving(img, task):
    a = degrade(img, task, seed=3)
    b = degrade(img, task, seed=3)
    c = degrade(img, task, seed=4)
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, img)
    out, params = degrade(img, task, seed=3, return_params=True)
    assert np.array_equal(out, a)
    json.dumps(params)  # JSON-able record
    assert params["seed"] == 3


def test_haze_follows_the_scattering_model(img):
    depth = np.full(img.shape[:2], 0.5)
    out = add_haze(img, beta=1.0, airlight=0.9, tint=0.0, min_depth=0.0, depth=depth)
    t = np.exp(-1.0 * 0.5)
    expect = np.round((img / 255.0 * t + 0.9 * (1 - t)) * 255).astype(np.uint8)
    assert np.abs(out.astype(int) - expect).max() <= 1
    # thicker haze: lower contrast, closer to the airlight
    thin = add_haze(img, seed=0, beta=0.5)
    thick = add_haze(img, seed=0, beta=2.5)
    assert thick.std() < thin.std() < img.std()


def test_depth_proxy_is_far_at_the_top():
    d = depth_proxy(np.full((32, 32, 3), 90, np.uint8))
    assert d.shape == (32, 32) and 0 <= d.min() and d.max() <= 1
    assert d[:4].mean() > d[-4:].mean()


def test_rain_streaks_are_bright_and_oriented(img):
    dark = np.full((64, 64, 3), 30, np.uint8)
    rainy = add_rain(dark, seed=1, angle_deg=0.0, veil=0.0, layers=2, density=0.01)
    streak = rainy[..., 0].astype(float) - 30
    assert streak.min() >= 0 and streak.max() > 60
    s = streak - streak.mean()
    vertical = (s[1:] * s[:-1]).mean()
    horizontal = (s[:, 1:] * s[:, :-1]).mean()
    assert vertical > 2 * horizontal  # vertical streaks are correlated along the columns
    _, p = add_rain(img, seed=2, return_params=True)
    assert len(p["per_layer"]) == p["layers"] >= 2


def test_lowlight_is_dark_and_noisy(img):
    out, p = darken(img, seed=0, return_params=True)
    assert out.mean() < 0.5 * img.mean()
    flat = np.full((64, 64, 3), 128, np.uint8)
    noisy = darken(flat, seed=0, photons=50, read_std=0.01, color_cast=0)
    clean = darken(flat, seed=0, photons=0, read_std=0, color_cast=0)
    assert noisy.std() > 1.0 and clean.std() == 0
    assert darken(flat, seed=0, exposure=0.05, photons=0, read_std=0).mean() < \
        darken(flat, seed=0, exposure=0.2, photons=0, read_std=0).mean()
    _, p = darken(flat, seed=5, color_cast=0.1, return_params=True)
    assert p["gains"] != [1.0, 1.0, 1.0]


def test_bad_inputs_have_clear_errors(img):
    with pytest.raises(ValueError, match="unknown task 'fog'"):
        degrade(img, "fog")
    with pytest.raises(TypeError, match="dtype uint8"):
        degrade(img.astype(np.float32), "dehaze")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        degrade(img[..., 0], "derain")
    with pytest.raises(TypeError, match="numpy array"):
        degrade(img.tolist(), "lowlight")
    with pytest.raises(ValueError, match="depth must have shape"):
        add_haze(img, depth=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="exposure"):
        darken(img, exposure=0)
