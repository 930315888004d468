"""gpt4o_prior.secrets: one definition of a credential for messages, sidecars and request keys."""
import pytest

from gpt4o_prior.cache.key import SECRET_NAMES as KEY_NAMES
from gpt4o_prior.providers.openai_images import redact as provider_redact
from gpt4o_prior.secrets import SECRET_NAMES, looks_secret, redact


def test_keys_and_tokens_go_paths_stay(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "plain-env-value-123")
    text = ("bad key sk-proj-abcdEFGH1234, masked sk-abc****wxyz, Bearer abc.def, env plain-env-value-123, "
            "path /data/risk-maps/ask-me/0001.png")
    out = redact(text)
    for gone in ("sk-proj-abcdEFGH1234", "sk-abc****wxyz", "abc.def", "plain-env-value-123"):
        assert gone not in out
    assert "/data/risk-maps/ask-me/0001.png" in out and out.count("[redacted]") == 4
    assert redact("given secret s3cr3t", "s3cr3t") == "given secret [redacted]"
    assert not looks_secret("/data/risk-maps/0001.png") and looks_secret("sk-live-0123456789")


def test_one_definition_everywhere():
    assert KEY_NAMES is SECRET_NAMES and provider_redact is redact


@pytest.mark.parametrize("name", ["api_key", "Authorization", "X-API-KEY"])
def test_secret_names_are_refused_in_a_key(name):
    from gpt4o_prior.cache.key import request_key

    with pytest.raises(ValueError):
        request_key(provider="p", model="m", prompt_text="x", prompt_version=1, params={name: "v"},
                    input_sha256="0" * 64)
