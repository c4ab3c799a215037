"""The workspace: its folder layout, config file, SQLite catalog and content-addressed storage."""
