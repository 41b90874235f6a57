"""Helpers shared by the test batteries (import as ``helpers.<module>``; tests/ is on sys.path)."""
