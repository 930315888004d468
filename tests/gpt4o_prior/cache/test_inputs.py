"""gpt4o_prior.cache.inputs: input hashes are remembered across processes until the file changes."""
from tests.helpers.cache import GPT_SET, fake_generate, write_input

from gpt4o_prior.cache import PriorCache
from gpt4o_prior.cache.image_io import encode_png


def test_input_hashes_are_remembered_across_processes_until_the_file_changes(cache, tmp_path, monkeypatch):
    from gpt4o_prior.cache import inputs as store  # where input files are hashed

    path, _, img = write_input(tmp_path / "data", "m.png", seed=140)
    fake_generate(cache, GPT_SET, path)
    calls = []
    real = store.sha256_bytes
    monkeypatch.setattr(store, "sha256_bytes", lambda b: calls.append(1) or real(b))
    PriorCache(cache.root).load_prior("toy-gpt", path)
    n = len(calls)
    PriorCache(cache.root).load_prior("toy-gpt", path)  # a new process: the memo file answers
    assert len(calls) == n
    path.write_bytes(encode_png(img[::-1].copy()))  # changed content: hashed again, and now it has no prior
    assert PriorCache(cache.root).load_prior("toy-gpt", path, fallback="skip") is None
    assert len(calls) == n + 1
    assert PriorCache(cache.root, remember_inputs=False).load_prior("toy-gpt", path, fallback="skip") is None
