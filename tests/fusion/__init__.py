"""Tests of the fusion core (issue 3); ``hosts`` holds the tiny host networks shared with tests/test_attach*.py."""
