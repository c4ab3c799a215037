"""Crawler: search-engine plugins, the browser driver, the downloader, jobs (only what crawls; the
replica search site the tests and demo crawl is the top-level `replica` package)."""
