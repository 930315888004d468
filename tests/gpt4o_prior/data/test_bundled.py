"""The bundled images: count, size, split, licences."""
import numpy as np

from gpt4o_prior.data import IMAGES_DIR, VAL_NAMES, bundled_images, read_rgb
from gpt4o_prior.data.build_bundled import CROPS, SOURCES


def test_counts_and_split_are_fixed_and_disjoint():
    all_, train, val = bundled_images(), bundled_images("train"), bundled_images("val")
    assert len(all_) == 40 and len(train) == 32 and len(val) == 8
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(all_)
    assert sorted(p.stem for p in val) == sorted(VAL_NAMES)
    assert all_ == sorted(all_)


def test_images_are_small_rgb_and_diverse():
    imgs = [read_rgb(p) for p in bundled_images()]
    assert all(im.shape == (128, 128, 3) and im.dtype == np.uint8 for im in imgs)
    stds = [im.std() for im in imgs]
    assert min(stds) > 5  # no flat crop
    colourful = sum(1 for im in imgs if np.abs(im[..., 0].astype(int) - im[..., 2]).mean() > 10)
    assert colourful >= 25  # mostly colour images (only the texture crops are grey)
    total = sum(p.stat().st_size for p in IMAGES_DIR.iterdir())
    assert total < 2 * 1024 * 1024


def test_every_crop_and_source_is_licensed_and_present():
    names = {p.stem for p in bundled_images()}
    assert names == {c.name for c in CROPS}
    text = (IMAGES_DIR / "LICENSES.md").read_text(encoding="utf-8")
    for source, (licence, _credit) in SOURCES.items():
        assert f"`{source}`" in text, source
        assert "CC0" in licence or "public domain" in licence
    assert {c.source for c in CROPS} == set(SOURCES)


def test_unknown_split_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="split must be"):
        bundled_images("test")
