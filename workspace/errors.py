"""Exceptions the CLI turns into one red line (exit 1). Every package subclasses HarvestError."""


class HarvestError(Exception):
    """An expected failure with a message fit for the user; never shown with a traceback."""


class WorkspaceError(HarvestError):
    """The workspace folder is missing, malformed or not a Harvest workspace."""


class ConfigError(HarvestError):
    """A configuration value is invalid; the message echoes the value received."""


class CatalogError(HarvestError):
    """The catalog file cannot be opened or migrated."""
