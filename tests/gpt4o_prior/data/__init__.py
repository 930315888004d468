"""Tests of ``gpt4o_prior.data``."""
