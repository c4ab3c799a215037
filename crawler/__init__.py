"""Crawler: search-engine plugins, the browser driver, the replica site, the downloader, jobs."""
