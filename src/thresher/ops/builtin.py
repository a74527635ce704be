"""Imports every built-in op module so that the registry knows them."""

from . import filter  # noqa: F401
from .dedup import exact, lines, minhash  # noqa: F401
from .text import c4, fineweb, gopher, language, length, normalize, pii  # noqa: F401
