"""Self-supervised methods, one file each, registered by name in `METHODS`."""

from tempssl.methods import cpc, dpc, shuffle_learn, tcn  # noqa: F401  (register each method)
from tempssl.methods.base import METHODS, Method, build_method

__all__ = ["METHODS", "Method", "build_method"]
