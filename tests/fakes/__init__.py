"""Fakes of external services for tests (no internet)."""
