"""Tests of the benchmark scripts under ``benchmarks/``, on tiny settings."""
