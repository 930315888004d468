"""gpt4o_prior.data.io: the one image lister (suffixes, sorted, hidden files out, recursive on ask); reading edge cases
(modes, transparency) and atomic, exact PNG writing."""
import numpy as np
import pytest
from PIL import Image

from gpt4o_prior.data import read_rgb, write_png
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
