"""Fixtures shared by the core's tests: the fake OpenAI server and the environment that points a subprocess at it."""
import pytest

from tests.helpers.fake_openai import FakeOpenAI
from tests.helpers.providers import API_KEY


@pytest.fixture
def fake_openai():
    """A started fake server (key ``tests.helpers.providers.API_KEY``); configure faults through its attributes."""
    with FakeOpenAI(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def openai_env(fake_openai):
    """Environment for a CLI subprocess that talks to the fake server."""
    return fake_openai.client_env()
