"""Fixtures for the BasicSR adapter tests (helpers live in basicsr_helpers.py)."""
from tests.helpers.basicsr_toy import basicsr_log, toy  # noqa: F401  (fixtures)
