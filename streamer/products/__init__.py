"""Products stage: product sheets from files or a URL (kept fresh while the show runs) and their pictures."""

from streamer.products.catalog import CatalogUpdate, ProductCatalog
from streamer.products.images import (
    ImageLoadError,
    load_product_image,
    placeholder_image,
    read_image,
)

__all__ = [
    "CatalogUpdate",
    "ImageLoadError",
    "ProductCatalog",
    "load_product_image",
    "placeholder_image",
    "read_image",
]
