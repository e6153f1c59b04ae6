"""storelink: one safe, fast, observable way into a store's business data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("storelink")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
