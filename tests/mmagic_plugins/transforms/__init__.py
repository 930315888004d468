"""Tests of ``mmagic_plugins.transforms``."""
