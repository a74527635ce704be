"""Imports every built-in op module so that the registry knows them."""

from . import filter  # noqa: F401
from .cluster import balanced, hierarchical, kmeans  # noqa: F401
from .dedup import exact, lines, minhash, semantic  # noqa: F401
from .embed import embed  # noqa: F401
from .image import quality as image_quality  # noqa: F401
from .model import difficulty, harvest, label_issues, ood, quality  # noqa: F401
from .select import decontaminate, dsir, influence, rebalance  # noqa: F401
from .text import c4, fineweb, gopher, language, length, normalize, pii  # noqa: F401
