"""Curation: validation, quality flags, dedupe, resize, leak-free split, reports."""
