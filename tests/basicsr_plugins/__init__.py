"""Tests of ``basicsr_plugins``."""
