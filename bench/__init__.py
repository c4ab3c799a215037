"""Harvest benchmarks against the peers it replaces (owner: helper G). See BENCHMARKS.md."""
