"""Shopify product data as raw product sheets: ``products.json`` (storefront or admin API) and the admin CSV export.

Pure: takes parsed data, returns raw sheets (the :class:`~streamer.config.ProductSheet` shape, before validation)
with where each field came from, so the loader can name the file line of any problem. Imported lazily by
:mod:`streamer.loading` (this package imports the loader).

How a Shopify product becomes a sheet:

* ``id``: the ``handle`` (``shopify-<id>`` when there is none); ``name``: ``title``;
* ``body_html`` -> ``description`` (paragraphs, headings, tables) and ``features`` (its list items), as text;
* ``vendor`` -> ``specs.brand``, ``product_type`` -> ``specs.category``, each option with its values ->
  ``specs.<option name>`` (``color: "slate grey, forest green and sunset orange"``); ``tags`` are kept as an extra
  field;
* ``variants`` -> sheet variants: ``title`` -> ``name``, ``option1..3`` -> ``options`` (named after the product's
  options), ``price``, ``compare_at_price`` (only when above the price: Shopify shows no sale otherwise) ->
  ``list_price``, ``inventory_quantity`` -> ``stock`` (negative, i.e. oversold, -> 0; not tracked -> unknown;
  ``available: false`` without a quantity -> 0), ``sku``. A product with only Shopify's ``Default Title``
  variant has no variants: its price, list price and stock are the product's;
* ``images[0].src`` (or ``image.src``) -> ``image``;
* ``currency``: the product's ``currency`` (or its first variant's ``price_currency``), else the catalog default;
* ``status: draft`` or ``archived`` -> not on sale: left out, with a warning;
* sheet fields Shopify does not have (``promo``, ``shipping``, ``faq``, ``sections``, ``features``, ``specs``)
  may be added to a product by hand and are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from streamer.products.html_text import html_sections, html_to_text, looks_like_html

Loc = tuple[str | int, ...]

#: Sheet fields a shop may add to a Shopify product by hand; kept as they are.
PASSED_FIELDS: tuple[str, ...] = ("promo", "shipping", "faq", "sections", "features", "specs", "currency")
#: The option Shopify gives a product that has no options.
DEFAULT_TITLE = "Default Title"
MAX_NAME_CHARS = 120
_SLUG_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True, slots=True)
class MappingNote:
    """Something the mapping changed or left out: ``path`` in the Shopify product (relative to it), ``field`` the
    sheet field it concerns."""

    path: Loc
    field: str
    message: str
    hint: str = ""
    severity: Literal["error", "warning"] = "warning"


@dataclass(slots=True)
class MappedProduct:
    """One Shopify product as a raw sheet."""

    data: dict[str, Any]
    origin: dict[Loc, Loc] = field(default_factory=dict)
    """Sheet path -> path in the Shopify product (``("variants", 0, "price")`` -> ``("variants", 2, "price")``)."""
    notes: list[MappingNote] = field(default_factory=list)
    skip: str | None = None
    """Why the product is not on sale (a draft): the loader leaves it out with a warning."""


def is_shopify_product(item: Any) -> bool:
    """A Shopify product rather than a sheet: a ``title``, no ``name``, and Shopify's own fields."""
    if not isinstance(item, Mapping) or "name" in item or "title" not in item:
        return False
    return any(k in item for k in ("variants", "body_html", "handle", "product_type", "vendor", "options"))


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool | Mapping | list):
        return ""
    return str(value).strip()


def _slug(handle: str) -> str:
    slug = _SLUG_BAD.sub("-", handle).strip("-_.")
    return slug[:64].rstrip("-_.")


def _spec_key(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip().lower())


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


def map_product(item: Mapping[str, Any], *, default_currency: str = "USD") -> MappedProduct:
    """One Shopify product (a mapping from ``products.json``) as a raw sheet. Never raises; what cannot be read is
    left out (the model then names what is missing) or noted."""
    out = MappedProduct({})
    data, origin, notes = out.data, out.origin, out.notes
    handle = _text(item.get("handle"))
    sheet_id = _slug(handle)
    if sheet_id:
        data["id"], origin[("id",)] = sheet_id, ("handle",)
    elif _text(item.get("id")):
        data["id"], origin[("id",)] = _slug(f"shopify-{_text(item.get('id'))}"), ("id",)
    title = item.get("title")
    name = _text(title)
    if name:
        name = html_to_text(name) if looks_like_html(name) else name
        if len(name) > MAX_NAME_CHARS:
            notes.append(
                MappingNote(("title",), "name", f"title is longer than {MAX_NAME_CHARS} characters; shortened")
            )
            name = _shorten(name, MAX_NAME_CHARS)
        data["name"], origin[("name",)] = name, ("title",)
    elif title is not None:
        data["name"], origin[("name",)] = title, ("title",)  # the model says what is wrong with it
    body = item.get("body_html")
    if isinstance(body, str) and body.strip():
        description, items = html_sections(body) if looks_like_html(body) else (body.strip(), [])
        if description:
            data["description"], origin[("description",)] = description, ("body_html",)
        if items:
            data["features"], origin[("features",)] = items, ("body_html",)
    for key in PASSED_FIELDS:
        if key in item and item[key] is not None:
            if key == "features" and "features" in data and isinstance(item[key], list):
                data["features"] = [*item[key], *data["features"]]
            else:
                data[key] = item[key]
            origin[(key,)] = (key,)
    specs: dict[str, Any] = dict(data["specs"]) if isinstance(data.get("specs"), Mapping) else {}
    for source, key in (("vendor", "brand"), ("product_type", "category")):
        value = _text(item.get(source))
        if value and key not in specs:
            specs[key] = value
            origin[("specs", key)] = (source,)
    option_names = _options(item, specs, origin)
    if specs:
        data["specs"] = specs
    tags = item.get("tags")
    tag_list = [t.strip() for t in tags.split(",")] if isinstance(tags, str) else tags
    if isinstance(tag_list, list) and any(_text(t) for t in tag_list):
        data["tags"], origin[("tags",)] = [_text(t) for t in tag_list if _text(t)], ("tags",)
    _image(item, data, origin)
    variants = item.get("variants")
    currency = _text(item.get("currency"))
    if not currency and isinstance(variants, list) and variants and isinstance(variants[0], Mapping):
        currency = _text(variants[0].get("price_currency") or variants[0].get("currency"))
    data["currency"] = currency or data.get("currency") or default_currency
    if isinstance(variants, list):
        _variants(variants, option_names, out)
    status = _text(item.get("status")).lower()
    if status in ("draft", "archived"):
        out.skip = f"status is {status!r}: not on sale, so it is left out"
    return out


def _options(item: Mapping[str, Any], specs: dict[str, Any], origin: dict[Loc, Loc]) -> list[str]:
    """Option names by position (``option1`` .. ``option3``); options with values become specs."""
    names: list[str] = []
    options = item.get("options")
    if not isinstance(options, list):
        return names
    for j, option in enumerate(options):
        if isinstance(option, str):
            names.append(option.strip())
            continue
        if not isinstance(option, Mapping):
            names.append(f"option{j + 1}")
            continue
        name = _text(option.get("name")) or f"option{j + 1}"
        names.append(name)
        values = [v for v in (_text(x) for x in option.get("values") or []) if v]
        if not values or (name == "Title" and values == [DEFAULT_TITLE]):
            continue
        key = _spec_key(name)
        if key not in specs:
            specs[key] = values
            origin[("specs", key)] = ("options", j)
    return names


def _image(item: Mapping[str, Any], data: dict[str, Any], origin: dict[Loc, Loc]) -> None:
    if "image" in data:
        return
    image = item.get("image")
    if isinstance(image, Mapping) and _text(image.get("src")):
        data["image"], origin[("image",)] = _text(image.get("src")), ("image", "src")
        return
    if isinstance(image, str) and image.strip():
        data["image"], origin[("image",)] = image.strip(), ("image",)
        return
    images = item.get("images")
    if isinstance(images, list) and images:
        first = images[0]
        src = _text(first.get("src")) if isinstance(first, Mapping) else _text(first)
        if src:
            data["image"], origin[("image",)] = src, ("images", 0)


def _variants(variants: Sequence[Any], option_names: list[str], out: MappedProduct) -> None:
    mapped: list[tuple[int, dict[str, Any]]] = []
    for j, v in enumerate(variants):
        if not isinstance(v, Mapping):
            out.notes.append(
                MappingNote(("variants", j), "variants", "expected a variant (key: value pairs); left out", "", "error")
            )
            continue
        mapped.append((j, _variant(j, v, option_names, out.notes)))
    if len(mapped) == 1 and _is_default(variants[mapped[0][0]]):
        j, only = mapped[0]
        for key in ("price", "list_price", "stock"):
            if key in only:
                out.data[key] = only[key]
                source = {"price": "price", "list_price": "compare_at_price", "stock": "inventory_quantity"}[key]
                out.origin[(key,)] = ("variants", j, source)
        return
    if mapped:
        out.data["variants"] = [v for _, v in mapped]
        for i, (j, _) in enumerate(mapped):
            out.origin[("variants", i)] = ("variants", j)
        out.origin[("price",)] = ("variants",)
        out.origin[("stock",)] = ("variants",)


def _is_default(v: Any) -> bool:
    if not isinstance(v, Mapping):
        return False
    title = _text(v.get("title"))
    options = [_text(v.get(f"option{k}")) for k in (1, 2, 3)]
    return title in ("", DEFAULT_TITLE) and all(o in ("", DEFAULT_TITLE) for o in options)


def _variant(j: int, v: Mapping[str, Any], option_names: list[str], notes: list[MappingNote]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    options: dict[str, str] = {}
    for k in (1, 2, 3):
        value = _text(v.get(f"option{k}"))
        if value and value != DEFAULT_TITLE:
            name = option_names[k - 1] if k - 1 < len(option_names) else f"option{k}"
            options[name] = value
    title = _text(v.get("title"))
    if title and title != DEFAULT_TITLE:
        out["name"] = title
    if options:
        out["options"] = options
    if v.get("price") is not None:
        out["price"] = v["price"]
    price = _decimal(v.get("price"))
    compare = v.get("compare_at_price")
    if compare is not None and _text(compare):
        amount = _decimal(compare)
        if amount is None:
            notes.append(
                MappingNote(
                    ("variants", j, "compare_at_price"),
                    f"variants.{j}.list_price",
                    f"compare_at_price {_text(compare)!r} is not a number; left out",
                    "write it like 24.99",
                    "error",
                )
            )
        elif price is not None and amount > price:
            out["list_price"] = compare
    tracked = not ("inventory_management" in v and v.get("inventory_management") is None)
    quantity = v.get("inventory_quantity")
    if tracked and quantity is not None and _text(quantity):
        text = _text(quantity)
        if isinstance(quantity, int) or _INT.match(text):
            out["stock"] = max(0, int(text))
        else:
            notes.append(
                MappingNote(
                    ("variants", j, "inventory_quantity"),
                    f"variants.{j}.stock",
                    f"inventory_quantity {text!r} is not a whole number; left out",
                    "write it like 12",
                    "error",
                )
            )
    elif v.get("available") is False:
        out["stock"] = 0
    sku = _text(v.get("sku"))
    if sku:
        out["sku"] = sku
    return out


# ---- CSV export ---------------------------------------------------------------------------------------------

#: Columns of Shopify's product CSV export this reads (lower case). Others are ignored.
CSV_COLUMNS: tuple[str, ...] = (
    "handle",
    "title",
    "body (html)",
    "vendor",
    "type",
    "tags",
    "status",
    "option1 name",
    "option1 value",
    "option2 name",
    "option2 value",
    "option3 name",
    "option3 value",
    "variant sku",
    "variant inventory tracker",
    "variant inventory qty",
    "variant price",
    "variant compare at price",
    "image src",
    "currency",
)


def is_shopify_csv(columns: Sequence[str]) -> bool:
    """A Shopify product export: a ``Handle`` column and one of Shopify's variant or body columns."""
    cols = {c.strip().lower() for c in columns}
    return "handle" in cols and bool(cols & {"variant price", "body (html)", "option1 name", "variant sku"})


def csv_products(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[tuple[dict[str, Any], dict[Loc, Loc]]]:
    """Rows of a Shopify CSV export (one per variant; image-only rows allowed) grouped by ``Handle`` into
    ``products.json``-shaped products, each with where its parts come from: ``("variants", i)`` -> ``(row,)``
    (``row``: index into ``rows``); ``()`` -> the product's first row. A row without a handle belongs to the
    product above it."""
    index: dict[str, int] = {}
    for i, c in enumerate(columns):
        index.setdefault(c.strip().lower(), i)

    def cell(row: Sequence[str], name: str) -> str:
        i = index.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    groups: dict[str, list[int]] = {}
    last: str | None = None
    for r, row in enumerate(rows):
        handle = cell(row, "handle")
        key = handle or last or f"\0row{r}"
        groups.setdefault(key, []).append(r)
        last = key
    out: list[tuple[dict[str, Any], dict[Loc, Loc]]] = []
    for key, members in groups.items():
        first = rows[members[0]]
        product: dict[str, Any] = {"handle": "" if key.startswith("\0") else key}
        for column, name in (
            ("title", "title"),
            ("body (html)", "body_html"),
            ("vendor", "vendor"),
            ("type", "product_type"),
            ("tags", "tags"),
            ("status", "status"),
            ("currency", "currency"),
        ):
            value = cell(first, column)
            if value:
                product[name] = value
        origin: dict[Loc, Loc] = {(): (members[0],)}
        names = [cell(first, f"option{k} name") for k in (1, 2, 3)]
        values_of: list[list[str]] = [[] for _ in names]
        variants: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        tracked_column = "variant inventory tracker" in index
        for r in members:
            row = rows[r]
            values = [cell(row, f"option{k} value") for k in (1, 2, 3)]
            if cell(row, "variant price") or cell(row, "variant sku") or any(values):
                variant: dict[str, Any] = {f"option{k}": values[k - 1] or None for k in (1, 2, 3)}
                title = " / ".join(v for v in values if v and v != DEFAULT_TITLE)
                variant["title"] = title or DEFAULT_TITLE
                for column, name in (
                    ("variant price", "price"),
                    ("variant compare at price", "compare_at_price"),
                    ("variant sku", "sku"),
                    ("variant inventory qty", "inventory_quantity"),
                ):
                    value = cell(row, column)
                    if value:
                        variant[name] = value
                if tracked_column and not cell(row, "variant inventory tracker"):
                    variant["inventory_management"] = None
                for k, value in enumerate(values):
                    if value and value not in values_of[k]:
                        values_of[k].append(value)
                origin[("variants", len(variants))] = (r,)
                variants.append(variant)
            src = cell(row, "image src")
            if src:
                origin[("images", len(images))] = (r,)
                images.append({"src": src})
        options = [{"name": n, "values": v} for n, v in zip(names, values_of, strict=True) if n]
        if options:
            product["options"] = options
        product["variants"] = variants
        if images:
            product["images"] = images
        out.append((product, origin))
    return out


__all__ = [
    "CSV_COLUMNS",
    "MappedProduct",
    "MappingNote",
    "csv_products",
    "is_shopify_csv",
    "is_shopify_product",
    "map_product",
]
