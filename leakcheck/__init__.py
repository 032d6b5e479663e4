"""leakcheck: find database-connection leaks in Python code."""

# The one place the version is written: pyproject.toml reads it from here (hatch's `path`
# source), and importing it costs nothing (importlib.metadata took 48 ms of every start-up).
__version__ = "0.2.0"

__all__ = ["__version__"]
