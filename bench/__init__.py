"""Benchmarks for Keyturn: `python -m bench.run --help`."""
