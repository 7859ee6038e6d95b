"""The single version source of the ``mattebench`` distribution."""

__version__ = "0.1.0"
