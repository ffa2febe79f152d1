"""Fixtures shared by several test folders (import them into a conftest.py)."""
