"""The workspace: its folder layout, config file, SQLite catalog and content-addressed storage."""

__version__ = "0.1.0"  # the one place Harvest's version is written (pyproject.toml reads it)
