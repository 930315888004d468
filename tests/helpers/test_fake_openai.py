"""The fake server's own multipart parser (test infrastructure, but the client's tests rely on it)."""
import pytest

from tests.helpers.fake_openai import parse_multipart


def _body(boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhaze \u00e9\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a b.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + b"\x89PNG\r\n--x\r\n\r\n\x00" + \
        f"\r\n--{boundary}--\r\n".encode()


def test_fields_files_and_binary_data_survive():
    for ct in ('multipart/form-data; boundary=zz123', 'multipart/form-data; boundary="zz123"'):
        fields, files = parse_multipart(ct, _body("zz123"))
        assert fields == {"prompt": "haze \u00e9"}
        assert files == {"image": ("a b.png", "image/png", b"\x89PNG\r\n--x\r\n\r\n\x00")}


def test_not_multipart_is_an_error():
    with pytest.raises(ValueError, match="boundary"):
        parse_multipart("application/json", b"{}")
    with pytest.raises(ValueError, match="closing boundary"):
        parse_multipart("multipart/form-data; boundary=zz123", _body("zz123")[:-10])
