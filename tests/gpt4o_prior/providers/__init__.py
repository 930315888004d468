"""Tests of ``gpt4o_prior.providers``."""
