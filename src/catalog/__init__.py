"""Catalog: a data catalog service (ISO/IEC 11179 registry, data products, discovery)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("catalog")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
