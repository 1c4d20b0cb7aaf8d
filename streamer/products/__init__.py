"""Products stage: product sheets from files or a URL (kept fresh while the show runs), their pictures, and the
facts a sheet states (:mod:`streamer.products.facts`).

The catalog and the pictures (OpenCV, Pillow) are imported on first use, so a part that only needs a sheet's
facts (the brain's guards) never loads them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamer.products.catalog import CatalogUpdate, ProductCatalog
    from streamer.products.images import ImageLoadError, load_product_image, placeholder_image, read_image

_LAZY = {
    "CatalogUpdate": "streamer.products.catalog",
    "ProductCatalog": "streamer.products.catalog",
    "ImageLoadError": "streamer.products.images",
    "load_product_image": "streamer.products.images",
    "placeholder_image": "streamer.products.images",
    "read_image": "streamer.products.images",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "CatalogUpdate",
    "ImageLoadError",
    "ProductCatalog",
    "load_product_image",
    "placeholder_image",
    "read_image",
]
