"""Self-supervised methods, one file each, registered by name in `METHODS`."""

from tempssl.methods import tcn  # noqa: F401  (registers "tcn")
from tempssl.methods.base import METHODS, Method, build_method

__all__ = ["METHODS", "Method", "build_method"]
