"""Harvest benchmarks against the peers it replaces. See BENCHMARKS.md."""
