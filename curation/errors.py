"""Curation's exceptions; the CLI shows each as one red line."""

from workspace.errors import HarvestError


class CurationError(HarvestError):
    """Curation cannot proceed: bad settings, unreadable folder, ..."""


class Rejected(Exception):
    """An image fails validation; `reason` is the catalog reason (not an error of the run)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
