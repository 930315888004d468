"""Fixtures for the command-line tests: ``server`` and ``env``, the names these tests use for the shared
``fake_openai`` and ``openai_env`` (``tests/gpt4o_prior/conftest.py``)."""
import pytest


@pytest.fixture
def server(fake_openai):
    return fake_openai


@pytest.fixture
def env(openai_env):
    """The environment of a CLI subprocess that talks to ``server``."""
    return openai_env
