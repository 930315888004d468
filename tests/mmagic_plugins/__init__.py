"""Tests of ``mmagic_plugins``."""
