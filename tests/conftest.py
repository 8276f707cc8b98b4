"""Shared pytest configuration for gochan's own test suite."""
