"""Benchmarks: `python -m bench.NAME`, each ending with one JSON line."""
