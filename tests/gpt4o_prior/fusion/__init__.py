"""Tests of ``gpt4o_prior.fusion``; the tiny host networks they share with the attach tests are in
``tests.helpers.hosts``."""
