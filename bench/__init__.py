"""Benchmarks: `make bench` (full) or `make bench-quick`. Every figure is a median or p95, and every
comparison a ratio against a baseline measured in the same run on the same servers."""
