"""The self-training loop: an orchestrator over the crawl, curate and train stages."""
