"""gpt4o_prior.data.io.list_images: the one image lister (suffixes, sorted, hidden files out, recursive on ask)."""
import pytest

from gpt4o_prior.data.io import list_images


def test_lister(tmp_path):
    for name in ("b.png", "a.JPG", "._b.png", "notes.txt", "sub/c.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)] == [
        "a.JPG", "b.png", "sub/c.png"]
    (tmp_path / "empty").mkdir()
    assert list_images(tmp_path / "empty", required=False) == []
    with pytest.raises(FileNotFoundError, match="no images"):
        list_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "nope")


def _png(arr, convert=None, **save):
    import io

    from PIL import Image
    im = Image.fromarray(arr)
    buf = io.BytesIO()
    (im.convert(convert) if convert else im).save(buf, format="PNG", **save)
    return buf.getvalue()


def _pillow_rgb(data):
    import io

    import numpy as np
    from PIL import Image
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def test_the_fast_png_decoder_gives_pillows_pixels_and_leaves_other_files_to_pillow(tmp_path):
    import numpy as np

    from gpt4o_prior.cache.image_io import decode_grey, encode_grey_png
    from gpt4o_prior.data.io import decode_png_fast, decode_rgb, png_8bit_kind, read_rgb
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    fast_cases = {"rgb": _png(rgb), "rgb level 0": _png(rgb, compress_level=0), "grey": _png(grey),
                  "rgb with tRNS": _png(rgb, transparency=(1, 2, 3))}
    for name, data in fast_cases.items():
        assert png_8bit_kind(data) is not None, name
        out = decode_rgb(data)
        assert out.dtype == np.uint8 and out.flags.c_contiguous, name
        np.testing.assert_array_equal(out, _pillow_rgb(data), err_msg=name)
        (tmp_path / "x.png").write_bytes(data)
        np.testing.assert_array_equal(read_rgb(tmp_path / "x.png"), _pillow_rgb(data), err_msg=name)
    np.testing.assert_array_equal(decode_grey(encode_grey_png(grey)), grey)
    assert decode_png_fast(_png(rgb), grey=True) is None  # an RGB file asked for as grey: Pillow converts it
    rgba = np.dstack([rgb, grey])
    slow_cases = {"rgba": _png(rgba), "16-bit grey": _png(grey.astype(np.uint16) * 257),
                  "palette": _png(rgb, convert="P")}
    for name, data in slow_cases.items():
        assert png_8bit_kind(data) is None and decode_png_fast(data) is None, name
        assert decode_rgb(data).shape == (37, 53, 3), name
    np.testing.assert_array_equal(decode_rgb(slow_cases["rgba"]), rgb)  # alpha dropped, as before
    with pytest.raises(ValueError, match="bad.png is not a readable image"):
        decode_rgb(fast_cases["rgb"][:60], "bad.png")  # a truncated file: Pillow's message, naming it
