"""leakcheck: find database-connection leaks in Python code."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("leakcheck-db")  # the distribution name (PyPI)
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
