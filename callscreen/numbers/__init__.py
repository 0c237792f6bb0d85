"""Caller-ID normalisation and number facts (pure, no I/O)."""
