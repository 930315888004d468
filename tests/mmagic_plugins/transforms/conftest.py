"""Fixtures for the transform tests: a cache whose priors carry a known confidence."""
import pytest

from tests.helpers.mmagic import make_conf_cache


@pytest.fixture(scope="module")
def conf_cache(tiny_data, tmp_path_factory):
    """A cache of its own with set ``conf`` (:func:`tests.helpers.mmagic.make_conf_cache`) for every tiny_data
    input."""
    return make_conf_cache(tmp_path_factory.mktemp("conf_cache"), tiny_data["root"])
