"""Fixtures for the cache tests."""
import pytest

from gpt4o_prior.cache import PriorCache
from tests.helpers.cache import GPT_SET


@pytest.fixture
def cache(tmp_path):
    """A fresh cache with GPT_SET registered."""
    c = PriorCache(tmp_path / "cache")
    c.register_set(GPT_SET)
    return c
