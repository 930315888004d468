"""Fixtures for provider tests: tiny input folders (the fake server is ``fake_openai`` of
``tests/gpt4o_prior/conftest.py``)."""
import pytest

from tests.helpers.providers import make_inputs


@pytest.fixture
def tiny_inputs(tmp_path):
    return make_inputs(tmp_path / "inputs", 6)
