"""Helpers shared by the tests: import them by their dotted name (``from tests.helpers.cache import GPT_SET``).

``REPO`` is the repository root (the folder that holds ``tests/``, ``options/`` and ``benchmarks/``).
"""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
