"""The gpt4o-prior command as a whole (gpt4o_prior.cli): every verb, the adapters' included, has help with examples."""
from tests.helpers.cli import run_cli


def test_help_of_every_verb_has_examples():
    for verb in (["generate"], ["batch"], ["batch", "submit"], ["import"], ["align"], ["verify"], ["stats"],
                 ["demo"], ["restore"]):
        r = run_cli(*verb, "--help")
        assert r.returncode == 0 and "examples:" in r.stdout, verb
    assert run_cli("--help").returncode == 0
