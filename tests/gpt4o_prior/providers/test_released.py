"""Importing released priors: the name template language, folder matching, and the import into the cache."""
import json

import numpy as np
import pytest

from gpt4o_prior.data import read_rgb, write_png
from gpt4o_prior.providers import get_provider
from gpt4o_prior.providers.released import (ImportReport, ReleasedProvider, expand_template, import_folder,
                                            match_folders)
from gpt4o_prior.dense_align import DENSE_VERSION


@pytest.mark.parametrize("template,name,expected", [
    ("{stem}", "0001.png", "0001"),
    ("{stem}_gpt", "0001.png", "0001_gpt"),
    ("{stem|strip(_hazy)}_GPT", "01_outdoor_hazy.jpg", "01_outdoor_GPT"),
    ("{stem|strip(_nothere)}", "01_outdoor_hazy.jpg", "01_outdoor_hazy"),
    ("{stem|lstrip(rain-)}", "rain-12.png", "12"),
    ("{stem|replace(low,high)|upper}", "low_3.png", "HIGH_3"),
    ("{num}", "01_outdoor_hazy.jpg", "1"),
    ("{num:04d}_out", "im7.png", "0007_out"),
    ("{name}", "a.b.png", "a.b.png"),
    ("gpt/{stem}*", "x.png", "gpt/x*"),
])
def test_template_language(template, name, expected):
    assert expand_template(template, name) == expected


@pytest.mark.parametrize("template,msg", [
    ("{stem|chop(1)}", "unknown filter"),
    ("{size}", "unknown field"),
    ("{stem", "unbalanced brace"),
    ("", "non-empty string"),
    ("{num}", "has no digits"),
])
def test_template_errors(template, msg):
    with pytest.raises(ValueError, match=msg):
        expand_template(template, "abc.png")


def _img(value, size=(8, 8)):
    return np.full((*size, 3), value, np.uint8)


@pytest.fixture
def folders(tmp_path):
    inputs, priors = tmp_path / "inputs", tmp_path / "priors"
    for i in (1, 2, 3):
        write_png(inputs / f"{i:02d}_hazy.png", _img(10 * i))
    write_png(priors / "01_gpt.png", _img(100))
    write_png(priors / "02_gpt.png", _img(110))
    write_png(priors / "99_gpt.png", _img(120))
    (priors / "notes.txt").write_text("not an image")
    return inputs, priors


def test_match_folders_reports_both_sides(folders):
    inputs, priors = folders
    pairs, no_prior, no_input = match_folders(priors, inputs, template="{stem|strip(_hazy)}_gpt")
    assert [(a.name, b.name) for a, b in pairs] == [("01_hazy.png", "01_gpt.png"), ("02_hazy.png", "02_gpt.png")]
    assert [p.name for p in no_prior] == ["03_hazy.png"]
    assert [p.name for p in no_input] == ["99_gpt.png"]


def test_match_folders_errors(folders, tmp_path):
    inputs, priors = folders
    write_png(priors / "01_gpt_v2.png", _img(1))
    with pytest.raises(ValueError, match=r"(?s)match several priors.*01_hazy.png -> 01_gpt.png, 01_gpt_v2.png"):
        match_folders(priors, inputs, template="{stem|strip(_hazy)}_gpt*")
    with pytest.raises(ValueError, match="matched by more than one input"):
        match_folders(priors, inputs, template="01_gpt")
    with pytest.raises(FileNotFoundError, match="priors_dir .*missing is not a folder"):
        match_folders(tmp_path / "missing", inputs)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        match_folders(priors, tmp_path / "empty")


def test_subfolder_template(tmp_path):
    write_png(tmp_path / "in" / "a.png", _img(1))
    (tmp_path / "out" / "gpt4o").mkdir(parents=True)
    from PIL import Image

    Image.fromarray(_img(2)).save(tmp_path / "out" / "gpt4o" / "a.jpg")
    write_png(tmp_path / "out" / "a.png", _img(3))  # same stem outside the sub-folder: not taken
    pairs, _, others = match_folders(tmp_path / "out", tmp_path / "in", template="gpt4o/{stem}")
    assert [p.relative_to(tmp_path / "out").as_posix() for _, p in pairs] == ["gpt4o/a.jpg"]
    assert [p.name for p in others] == ["a.png"]


def test_provider_identity():
    p = get_provider("released", set_name="lol-gpt4o")
    assert isinstance(p, ReleasedProvider) and p.label == "released-gpt"
    assert p.key_fields()["params"] == {"set": "lol-gpt4o"}
    assert ReleasedProvider("a").key_fields() != ReleasedProvider("b").key_fields()


def test_report_prints_and_exit_code():
    r = ImportReport(set_name="s", label="released-gpt", priors_dir="p", inputs_dir="i", template="{stem}",
                     pairs=[("a.png", "a.png")], added=["a.png"], unmatched_inputs=["b.png"],
                     unmatched_priors=["z.png"],
                     alignment={"a.png": {"quality": 0.9, "registered": True, "fallback": False}})
    text = str(r)
    assert "1 added" in text and "inputs without a prior (1): b.png" in text and "z.png" in text
    assert "1 registered" in text and "mean 0.900" in text
    assert "INCOMPLETE" in text and r.exit_code == 1 and not r.ok
    json.dumps(r.to_dict())


# ---------------------------------------------------------------------------------------------- import into a cache
def _scene(seed, size=48):
    """A textured image that registration can lock on to."""
    from gpt4o_prior.data import bundled_images

    img = read_rgb(bundled_images("val")[seed % 8])
    return np.ascontiguousarray(img[:size, :size])


@pytest.fixture
def released(tmp_path):
    """Inputs (hazy) and 'released' priors: the clean scene, larger (as GPT outputs are) and saved as JPEG/PNG."""
    from PIL import Image

    from gpt4o_prior.data import degrade

    inputs, priors = tmp_path / "hazy", tmp_path / "gpt4o"
    for i in range(3):
        clean = _scene(i)
        write_png(inputs / f"{i + 1:02d}_outdoor_hazy.png", degrade(clean, "dehaze", seed=i))
        big = Image.fromarray(clean).resize((96, 96), Image.BICUBIC)
        if i == 0:
            priors.mkdir(parents=True, exist_ok=True)
            big.save(priors / f"{i + 1:02d}_outdoor_GPT.jpg", quality=95)
        else:
            write_png(priors / f"{i + 1:02d}_outdoor_GPT.png", np.asarray(big))
    write_png(inputs / "04_outdoor_hazy.png", _img(7, (48, 48)))  # no prior for this one
    return inputs, priors


def test_import_stores_aligned_priors_and_is_idempotent(released, tmp_path):
    from gpt4o_prior.cache import PriorCache, sha256_file

    inputs, priors = released
    cache = PriorCache(tmp_path / "cache", durable=False)
    report = import_folder(priors, inputs_dir=inputs, cache=cache, set_name="ohaze-gpt4o",
                           template="{stem|strip(_hazy)}_GPT", progress=False)
    assert sorted(report.added) == ["01_outdoor_hazy.png", "02_outdoor_hazy.png", "03_outdoor_hazy.png"]
    assert report.unmatched_inputs == ["04_outdoor_hazy.png"] and report.exit_code == 1
    assert "3 added" in str(report)
    assert "04_outdoor_hazy.png looks for a prior named '04_outdoor_GPT'" in str(report)
    pset = cache.get_set("ohaze-gpt4o")
    assert pset.label == "released-gpt" and pset.provider == "released"

    for name in report.added:
        prior = cache.load_prior("ohaze-gpt4o", inputs / name)
        assert prior.shape == (48, 48, 3)  # back to the input's geometry
        entry = cache.find("ohaze-gpt4o", sha256_file(inputs / name))
        assert entry.meta["label"] == "released-gpt" and entry.meta["input_file"] == name
        assert entry.raw_path is not None and entry.aligned_path is not None
    first = cache.find("ohaze-gpt4o", sha256_file(inputs / "01_outdoor_hazy.png"))
    assert first.raw_path.read_bytes() == (priors / "01_outdoor_GPT.jpg").read_bytes()  # stored as found

    again = import_folder(priors, inputs_dir=inputs, cache=cache, set_name="ohaze-gpt4o",
                          template="{stem|strip(_hazy)}_GPT", progress=False)
    assert again.added == [] and again.updated == [] and len(again.unchanged) == 3

    # a re-released prior replaces the old one in lookups
    write_png(priors / "02_outdoor_GPT.png", _img(200, (96, 96)))
    third = import_folder(priors, inputs_dir=inputs, cache=cache, set_name="ohaze-gpt4o",
                          template="{stem|strip(_hazy)}_GPT", progress=False, register=False)
    assert third.updated == ["02_outdoor_hazy.png"] and len(third.unchanged) == 2
    assert PriorCache(tmp_path / "cache").load_prior("ohaze-gpt4o", inputs / "02_outdoor_hazy.png").mean() == \
        pytest.approx(200, abs=1)


def test_import_errors_name_the_file(released, tmp_path):
    from gpt4o_prior.cache import PriorCache

    inputs, priors = released
    cache = PriorCache(tmp_path / "cache", durable=False)
    (priors / "03_outdoor_GPT.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="03_outdoor_GPT.png is not a readable image"):
        import_folder(priors, inputs_dir=inputs, cache=cache, set_name="s", template="{stem|strip(_hazy)}_GPT",
                      progress=False)
    with pytest.raises(FileNotFoundError, match="inputs_dir"):
        import_folder(priors, inputs_dir=tmp_path / "nope", cache=cache, set_name="s", progress=False)
    with pytest.raises(ValueError):  # same set name, different label: the cache refuses to mix them
        import_folder(priors, inputs_dir=inputs, cache=cache, set_name="s", label="classical", progress=False)


def test_other_formats_are_stored_as_png(tmp_path):
    from PIL import Image

    from gpt4o_prior.cache import PriorCache, sha256_file

    write_png(tmp_path / "in" / "1.png", _scene(3, 32))
    (tmp_path / "out").mkdir()
    Image.fromarray(_scene(3, 32)).save(tmp_path / "out" / "1.bmp")
    cache = PriorCache(tmp_path / "cache", durable=False)
    report = import_folder(tmp_path / "out", inputs_dir=tmp_path / "in", cache=cache, set_name="bmp",
                           progress=False)
    assert report.ok and report.added == ["1.png"]
    entry = cache.find("bmp", sha256_file(tmp_path / "in" / "1.png"))
    assert entry.raw_path.read_bytes()[:4] == b"\x89PNG"
    assert np.array_equal(read_rgb(entry.raw_path), _scene(3, 32))
    assert entry.meta["prior_file"] == "1.bmp" and entry.meta["prior_file_sha256"] == sha256_file(
        tmp_path / "out" / "1.bmp")


def test_import_stores_the_confidence_of_the_dense_step(released, tmp_path):
    from gpt4o_prior.cache import PriorCache, sha256_file

    inputs, priors = released
    cache = PriorCache(tmp_path / "cache", durable=False)
    report = import_folder(priors, inputs_dir=inputs, cache=cache, set_name="rel", progress=False,
                           template="{stem|strip(_hazy)}_GPT")
    name = "02_outdoor_hazy.png"
    entry = cache.find("rel", sha256_file(inputs / name))
    assert entry.confidence_path is not None and entry.meta["alignment"]["dense"]["version"] == DENSE_VERSION
    prior, conf = cache.load_prior("rel", inputs / name, with_confidence=True)
    assert prior.shape == (48, 48, 3) and conf.shape == (48, 48) and conf.mean() > 0.2
    assert isinstance(report.alignment[name]["confidence_mean"], float) and "mean confidence" in str(report)
    flat = PriorCache(tmp_path / "flat", durable=False)
    import_folder(priors, inputs_dir=inputs, cache=flat, set_name="rel", progress=False,
                  template="{stem|strip(_hazy)}_GPT", dense=False)
    e2 = flat.find("rel", sha256_file(inputs / name))
    assert e2.key == entry.key and e2.confidence_path is None
    assert (flat.load_prior("rel", inputs / name, with_confidence=True)[1] == 1).all()
    assert cache.verify().ok and flat.verify().ok
