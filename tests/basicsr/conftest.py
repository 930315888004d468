"""Fixtures for the BasicSR adapter tests (helpers live in basicsr_helpers.py)."""
from basicsr_helpers import basicsr_log, toy  # noqa: F401  (fixtures)
