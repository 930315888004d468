"""Fixtures for the command-line tests: a started fake OpenAI server and the environment that points at it."""
import pytest

from tests.helpers.cli import API_KEY
from tests.helpers.fake_openai import FakeOpenAI


@pytest.fixture
def server():
    with FakeOpenAI(api_key=API_KEY) as s:
        yield s


@pytest.fixture
def env(server):
    """The environment of a CLI subprocess that talks to ``server``."""
    return server.client_env()
