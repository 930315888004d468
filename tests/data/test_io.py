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
