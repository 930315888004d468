"""Fixtures for provider tests: the fake OpenAI server, tiny input folders, and environments pointing at them."""
import pytest
from tests.helpers.providers import API_KEY, make_inputs

from tests.helpers.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai():
    """A started fake server (key ``API_KEY``); configure faults through its attributes."""
    with FakeOpenAI(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def tiny_inputs(tmp_path):
    return make_inputs(tmp_path / "inputs", 6)


@pytest.fixture
def openai_env(fake_openai):
    """Environment for a CLI subprocess that talks to the fake server."""
    return fake_openai.client_env()
