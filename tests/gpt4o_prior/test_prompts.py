"""gpt4o_prior.prompts: every task has a versioned prompt."""
import pytest

from gpt4o_prior.prompts import PROMPTS, get_prompt, list_prompts


def test_every_task_has_a_versioned_prompt():
    for task in ("dehaze", "derain", "lowlight", "restore"):
        p = get_prompt(task)
        assert p.version >= 1 and len(p.text) > 40 and p.id == task
    texts = [p.text for versions in PROMPTS.values() for p in versions]
    assert len(set(texts)) == len(texts)
    with pytest.raises(KeyError, match="versions: 1"):
        get_prompt("dehaze", 7)
    assert set(list_prompts()) >= {"dehaze", "derain", "lowlight", "restore"}
