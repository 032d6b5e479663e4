"""Fixtures shared by several test modules."""

from unprivileged import unprivileged  # noqa: F401  (the fixture, for every module here)
