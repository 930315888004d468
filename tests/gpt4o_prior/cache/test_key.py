"""request_key: same request, same key; any change, another key; no credentials, no non-JSON values."""
import pytest

from gpt4o_prior.cache import canonical_json, request_key, sha256_bytes

BASE = dict(provider="openai-images", model="gpt-image-1.5", prompt_text="Remove the haze.", prompt_version=1,
            params={"size": "1024x1024", "quality": "high", "n": 1}, input_sha256=sha256_bytes(b"png bytes"))


def test_same_request_same_key_and_order_free():
    a = request_key(**BASE)
    b = request_key(**{**BASE, "params": dict(reversed(list(BASE["params"].items())))})
    assert a == b and len(a) == 64 and int(a, 16) >= 0


@pytest.mark.parametrize("field,value", [
    ("provider", "openai-batch"), ("model", "gpt-image-2"), ("model", None), ("prompt_text", "Remove the haze"),
    ("prompt_version", 2), ("params", {"size": "1024x1024", "quality": "high", "n": 2}),
    ("params", {"size": "1024x1024", "quality": "high", "n": 1, "background": "opaque"}),
    ("params", {"size": "1024x1024", "quality": "high", "n": 1.0}),
    ("input_sha256", sha256_bytes(b"png bytes!")),
])
def test_any_change_changes_the_key(field, value):
    assert request_key(**{**BASE, field: value}) != request_key(**BASE)


def test_fields_cannot_collide_by_concatenation():
    a = request_key(**{**BASE, "model": "ab", "prompt_text": "c"})
    b = request_key(**{**BASE, "model": "a", "prompt_text": "bc"})
    assert a != b


@pytest.mark.parametrize("params,err", [
    ({"api_key": "sk-x"}, ValueError), ({"nested": {"Authorization": "x"}}, ValueError),
    ({"x": b"bytes"}, TypeError), ({"x": float("nan")}, ValueError), ({1: "a"}, TypeError),
])
def test_bad_params_are_refused_with_a_clear_error(params, err):
    with pytest.raises(err) as e:
        request_key(**{**BASE, "params": params})
    assert "sk-x" not in str(e.value)


def test_bad_input_hash():
    with pytest.raises(ValueError, match="input_sha256"):
        request_key(**{**BASE, "input_sha256": "../../etc/passwd"})


def test_canonical_json_is_stable():
    assert canonical_json({"b": [1, {"d": 2, "c": 3}], "a": "é"}) == '{"a":"é","b":[1,{"c":3,"d":2}]}'


def test_image_request_keys_hash_pixels_not_png_bytes(tmp_path):
    """Two PNG encodings of the same sent pixels give one key: an encoder change never pays a request twice."""
    import io

    import numpy as np
    from PIL import Image

    from gpt4o_prior.cache import sha256_pixels
    from gpt4o_prior.providers.openai_images import OpenAIImagesProvider, prepare_input

    img = (np.arange(24 * 40 * 3) % 251).astype(np.uint8).reshape(24, 40, 3)
    datas = []
    for level in (0, 9):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", compress_level=level)
        datas.append(buf.getvalue())
    assert datas[0] != datas[1]
    prov = OpenAIImagesProvider(model="gpt-image-1", task="dehaze")
    a, b = (prepare_input(d, provider=prov) for d in datas)
    assert a.key == b.key and a.source_sha256 != b.source_sha256
    sent = np.asarray(Image.open(io.BytesIO(a.sent_png)).convert("RGB"))
    assert a.key == request_key(**prov.key_fields(), input_sha256=sha256_pixels(sent))
