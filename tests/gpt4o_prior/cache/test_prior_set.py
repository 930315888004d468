"""gpt4o_prior.cache.prior_set through PriorCache: registering a set is idempotent, conflicts and unknown sets are
named, names stay inside the root."""
import pytest
from tests.helpers.cache import GPT_SET

from gpt4o_prior.cache import PriorSet, UnknownSetError


def test_register_set_is_idempotent_and_conflicts_are_named(cache):
    cache.register_set(GPT_SET)  # identical: no-op
    assert [s.name for s in cache.list_sets()] == ["toy-gpt"]
    assert cache.get_set("toy-gpt") == GPT_SET
    other = PriorSet(**{**GPT_SET.to_dict(), "model": "gpt-image-2"})
    with pytest.raises(ValueError, match="toy-gpt.*gpt-image-1.5.*gpt-image-2"):
        cache.register_set(other)


def test_unknown_set_lists_known_sets(cache):
    with pytest.raises(KeyError) as e:
        cache.get_set("ohaze-gpt")
    assert isinstance(e.value, UnknownSetError) and "toy-gpt" in str(e.value) and "ohaze-gpt" in str(e.value)


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "a" * 200])
def test_set_names_cannot_escape_the_root(name):
    with pytest.raises(ValueError, match="prior set name"):
        PriorSet(name=name, provider="p")
