"""The crawler's exceptions; the CLI shows each as one red line."""

from workspace.errors import HarvestError


class CrawlerError(HarvestError):
    """A crawl cannot proceed: unknown engine, bad base URL, replica folder unusable, ..."""


class BrowserError(CrawlerError):
    """No usable browser or driver was found, or the browser died mid-crawl."""
