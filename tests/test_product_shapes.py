"""Product data as shops write it: lists, nested specs, variants, HTML, Shopify products.json and CSV exports.

Only a value that cannot be read at all is a problem, and it never drops the rest of its product.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamer.brain.guards import _fingerprint, product_facts
from streamer.config import ProductSheet, Variant, flatten_specs, natural_join, readable_text
from streamer.loading import LoadedProduct, errors_in, read_product_file, read_product_text
from streamer.products import ProductCatalog
from streamer.products.html_text import html_sections, html_to_text, looks_like_html

SHAPES = Path(__file__).resolve().parent / "data" / "shapes"


def load(name: str) -> tuple[dict[str, LoadedProduct], list]:
    result = read_product_file(SHAPES / name)
    return {p.sheet.id: p for p in result.products}, result.problems


def sheet(**fields: object) -> ProductSheet:
    return ProductSheet.model_validate({"id": "p", "name": "P", **fields})


# ---- text from any shape ------------------------------------------------------------------------------------


def test_lists_read_as_natural_text_in_english_and_chinese() -> None:
    assert natural_join(["slate grey", "forest green", "sunset orange"]) == "slate grey, forest green and sunset orange"
    assert natural_join(["a", "b"]) == "a and b" and natural_join(["a"]) == "a" and natural_join([]) == ""
    assert natural_join(["石板灰", "森林绿", "日落橙"]) == "石板灰、森林绿和日落橙"
    assert readable_text(["Holds 350 ml.", "Dishwasher safe"]) == "Holds 350 ml. Dishwasher safe."
    assert readable_text({"weight_kg": 1.5, "fit": "slim"}) == "weight 1.5 kg, fit: slim"
    assert readable_text([True, 2.0, Decimal("2.50")]) == "yes, 2 and 2.5"


def test_option_table_reads_as_rows() -> None:
    table = [{"size": "S", "chest_cm": 96}, {"size": "M", "chest_cm": 102, "length_cm": 70}]
    assert readable_text(table) == "S: chest 96 cm; M: chest 102 cm, length 70 cm"
    assert readable_text([{"title": "Waterproof", "detail": "IPX7"}]) == "Waterproof: IPX7"


def test_specs_flatten_nested_mappings_with_joined_keys_and_unit_suffixes() -> None:
    flat = flatten_specs(
        {
            "colors": ["slate grey", "forest green", "sunset orange"],
            "dimensions": {"width_cm": 30, "height_cm": 18},
            "sizes": [{"size": "S", "chest_cm": 96}, {"size": "M", "chest_cm": 102}],
            "washable": True,
            "care": None,
            "blob": b"\x00",
        }
    )
    assert flat.specs == {
        "colors": "slate grey, forest green and sunset orange",
        "dimensions_width_cm": 30,
        "dimensions_height_cm": 18,
        "sizes": "S: chest 96 cm; M: chest 102 cm",
        "washable": "yes",
    }
    assert flat.origin["dimensions_height_cm"] == ("dimensions", "height_cm")
    assert [(i.path, i.empty) for i in flat.issues] == [(("care",), True), (("blob",), False)]


def test_specs_written_as_name_value_pairs_become_a_mapping() -> None:
    pairs = [{"name": "Weight", "value": "1 kg"}, {"name": "Cups", "value": 100}]
    assert sheet(price=1, specs=pairs).specs == {"Weight": "1 kg", "Cups": 100}
    assert sheet(price=1, specs=["Roast: medium"]).specs == {"Roast": "medium"}


def test_model_accepts_feature_and_faq_shapes() -> None:
    p = sheet(
        price=1,
        features="- Whole bean\n- Roasted to order",
        faq={"Is it decaf?": "No.", "Colours?": ["blue", "sand"]},
    )
    assert p.features == ["Whole bean", "Roasted to order"]
    assert [(f.q, f.a) for f in p.faq] == [("Is it decaf?", "No."), ("Colours?", "blue and sand")]
    assert sheet(price=1, features="One feature").features == ["One feature"]
    assert [f.a for f in sheet(price=1, faq=[{"question": "Decaf?", "answer": "No."}]).faq] == ["No."]


def test_model_refuses_a_spec_nobody_can_read() -> None:
    with pytest.raises(ValidationError, match="nested more than 4 levels"):
        sheet(price=1, specs={"a": {"b": {"c": {"d": {"e": 1}}}}})


# ---- variants -----------------------------------------------------------------------------------------------


def test_variants_give_the_product_its_lowest_price_and_total_stock() -> None:
    p = sheet(
        variants=[
            {"options": {"colour": "Forest Green", "size": "L"}, "price": "27.90", "stock": 2},
            {"name": "Slate Grey / S", "price": 24.9, "list_price": 29.9, "stock": 8},
            {"name": "Sunset Orange / M"},
        ]
    )
    assert p.price == Decimal("24.9") and p.list_price == Decimal("29.9") and p.stock == 10
    green, _, orange = p.variants
    assert green.name == "Forest Green / L" and green.options == {"colour": "Forest Green", "size": "L"}
    assert green.price == Decimal("27.90") and green.sku is None
    assert orange.price is None and p.price_of(orange) == p.price and p.price_of(green) == Decimal("27.90")


def test_a_sheet_price_and_stock_win_over_the_variants() -> None:
    p = sheet(price=30, stock=3, variants=[{"name": "A", "price": 20, "stock": 9}])
    assert (p.price, p.stock) == (Decimal(30), 3)


def test_a_variant_list_price_below_its_price_is_refused() -> None:
    with pytest.raises(ValidationError, match="list_price is below price"):
        Variant.model_validate({"name": "A", "price": 20, "list_price": 10})


def test_yaml_sheet_with_lists_nested_specs_and_variants() -> None:
    products, problems = load("lists-and-variants.yaml")
    tote = products["canvas-tote"]
    p = tote.sheet
    assert p.currency == "EUR" and p.price == Decimal("24.9") and p.stock == 13
    assert p.specs["colors"] == "slate grey, forest green and sunset orange"
    assert (p.specs["dimensions_width_cm"], p.specs["sizes"]) == (40, "S: strap 60 cm; L: strap 70 cm")
    assert p.features == ["Heavy 12 oz cotton canvas"]
    assert [f.q for f in p.faq] == ["Can I wash it?", "Does it have a zip?"]
    assert [(v.name, v.stock) for v in p.variants] == [
        ("Slate Grey / S", 8),
        ("Forest Green / L", 0),
        ("Sunset Orange / L", 5),
    ]
    # flattened specs and listed FAQ entries keep the lines they were written on
    assert tote.lines["specs.dimensions_height_cm"] == 11 and tote.lines["faq.1"] == 20
    assert tote.lines["variants.2"] == 30
    (empty,) = problems
    assert (empty.line, empty.field, empty.severity) == (17, "specs.care", "warning")


# ---- HTML ---------------------------------------------------------------------------------------------------


def test_html_becomes_sentences_without_scripts_or_entities() -> None:
    html = (
        "<h3>Bring the moon home</h3><p>A moon&nbsp;lamp &amp; stand</p><script>alert('x')</script>"
        "<style>p{color:red}</style><p>Features:</p><ul><li>USB-C charging port</li><li>16 colours</li></ul>"
        "<table><tr><td>Material</td><td>PLA</td></tr></table>"
    )
    text = html_to_text(html)
    assert text == ("Bring the moon home. A moon lamp & stand. USB-C charging port. 16 colours. Material: PLA.")
    assert html_sections(html) == (
        "Bring the moon home. A moon lamp & stand. Material: PLA.",
        ["USB-C charging port", "16 colours"],
    )
    assert html_to_text("Tom &amp; Jerry") == "Tom & Jerry"
    assert html_to_text("<p>这是茶具</p><p>很好</p>") == "这是茶具。很好。"
    assert html_to_text("<p>unclosed <b>bold") == "unclosed bold"


def test_only_tags_and_entities_count_as_html() -> None:
    assert looks_like_html("<p>x") and looks_like_html("Tom &amp; Jerry") and looks_like_html("a<br/>b")
    assert not looks_like_html("a < b and c > d") and not looks_like_html("5<10 cm") and not looks_like_html("R&D")


def test_html_in_descriptions_features_and_faq_is_cleaned() -> None:
    products, problems = load("html-description.yaml")
    p = products["moon-lamp-html"].sheet
    assert problems == []
    assert p.name == "Moon Lamp & Stand"
    assert p.description == (
        "Bring the moon home. A 3D-printed moon lamp with a realistic surface. USB-C charging port. "
        "16 colours with remote."
    )
    assert p.features == ["Warm white or 16 colours", "Cool to the touch – safe for kids"]
    assert [(f.q, f.a) for f in p.faq] == [("Is it dimmable?", "Yes, with the remote.")]


# ---- Shopify ------------------------------------------------------------------------------------------------


def test_shopify_products_json_maps_onto_sheets() -> None:
    products, problems = load("shopify-products.json")
    assert list(products) == ["trail-fleece-hoodie", "enamel-camp-mug"]
    hoodie = products["trail-fleece-hoodie"].sheet
    assert hoodie.name == "Trail Fleece Hoodie" and hoodie.currency == "USD"
    assert hoodie.description == "A warm recycled fleece hoodie for cold trail mornings & campfire evenings."
    assert hoodie.features == ["100% recycled polyester fleece", "Zip chest pocket", "Machine washable at 30 °C"]
    assert hoodie.specs == {
        "brand": "Northpeak",
        "category": "Hoodies",
        "color": "Slate Grey and Forest Green",
        "size": "M and L",
    }
    assert hoodie.image == "https://cdn.example.com/hoodie-front.jpg"
    assert hoodie.model_extra == {"tags": ["outdoor", "fleece", "winter"]}
    assert (hoodie.price, hoodie.list_price, hoodie.stock) == (Decimal("59.00"), Decimal("79.00"), 17)
    rows = [(v.name, v.options, v.price, v.list_price, v.stock, v.sku) for v in hoodie.variants]
    assert rows[0] == (
        "Slate Grey / M",
        {"Color": "Slate Grey", "Size": "M"},
        Decimal("59.00"),
        Decimal("79.00"),
        12,
        "TFH-SG-M",
    )
    # no sale when compare_at_price is missing or equal; oversold (-2) is out of stock
    assert rows[2][3:5] == (None, 5) and rows[3][3:5] == (None, 0)
    # a product with only Shopify's "Default Title" variant has no variants: its price is the product's
    mug = products["enamel-camp-mug"].sheet
    assert mug.name == "Enamel Camp Mug – 350 ml" and mug.variants == []
    assert (mug.price, mug.list_price, mug.stock) == (Decimal("18.50"), Decimal("22.00"), 40)
    assert mug.description == "Keeps drinks hot for 2 hours. Won't chip on the trail."
    assert mug.image == "https://cdn.example.com/mug.jpg"
    # the draft is not on sale: left out with a warning on its line, not an error
    (draft,) = problems
    assert (draft.line, draft.field, draft.severity) == (43, "status", "warning") and "draft" in draft.message


def test_shopify_lines_point_into_the_feed() -> None:
    products, _ = load("shopify-products.json")
    hoodie = products["trail-fleece-hoodie"]
    assert (hoodie.line, hoodie.lines["name"], hoodie.lines["image"], hoodie.lines["variants.3"]) == (3, 5, 26, 23)


def test_shopify_single_product_and_catalog_currency() -> None:
    body = json.dumps(
        {
            "product": {
                "title": "Tea Set",
                "handle": "tea-set",
                "variants": [{"title": "Default Title", "price": "268.00"}],
            }
        }
    )
    result = read_product_text(body, fmt="json", file="tea.json", default_currency="CNY")
    (p,) = [lp.sheet for lp in result.products]
    assert (p.id, p.price, p.currency) == ("tea-set", Decimal("268.00"), "CNY")
    # a currency in the feed wins over the default; a product without a handle gets one from its id
    body = json.dumps({"products": [{"id": 42, "title": "Mug", "currency": "EUR", "variants": [{"price": "9.50"}]}]})
    (loaded,) = read_product_text(body, fmt="json", file="m.json", default_currency="CNY").products
    assert (loaded.sheet.id, loaded.sheet.currency) == ("shopify-42", "EUR")


def test_shopify_variant_with_an_unreadable_price_is_left_out_on_its_line(tmp_path: Path) -> None:
    f = tmp_path / "products.json"
    f.write_text(
        '{"products": [{\n'
        '  "title": "Cap", "handle": "cap",\n'
        '  "options": [{"name": "Color", "values": ["Red", "Blue"]}],\n'
        '  "variants": [\n'
        '    {"title": "Red", "option1": "Red", "price": "ask us", "inventory_quantity": 3},\n'
        '    {"title": "Blue", "option1": "Blue", "price": "12.00", "inventory_quantity": "many"}\n'
        "  ]\n"
        "}]}\n"
    )
    result = read_product_file(f)
    (p,) = [lp.sheet for lp in result.products]
    assert [(v.name, v.price, v.stock) for v in p.variants] == [("Blue", Decimal("12.00"), None)]
    assert p.price == Decimal("12.00")
    got = {(e.line, e.field) for e in errors_in(result.problems)}
    assert got == {(5, "variants.0.price"), (6, "variants.1.stock")}


def test_shopify_csv_export_groups_rows_by_handle() -> None:
    products, problems = load("shopify-export.csv")
    assert problems == []
    assert list(products) == ["merino-beanie", "trail-socks"]
    beanie = products["merino-beanie"]
    p = beanie.sheet
    assert p.name == "Merino Beanie" and p.description == "Soft merino wool beanie."
    assert p.features == ["Itch-free merino", "One size fits most"]
    assert p.specs["color"] == "Charcoal, Mustard and Ocean Blue"
    assert [(v.name, v.price, v.list_price, v.stock, v.sku) for v in p.variants] == [
        ("Charcoal", Decimal("24.00"), Decimal("30.00"), 14, "MB-CH"),
        ("Mustard", Decimal("26.00"), None, 3, "MB-MU"),
        ("Ocean Blue", Decimal("26.00"), None, None, "MB-OB"),  # inventory not tracked: unknown
    ]
    assert (p.price, p.list_price, p.stock, p.image) == (
        Decimal("24.00"),
        Decimal("30.00"),
        17,
        "https://cdn.example.com/beanie.jpg",
    )
    assert (beanie.line, beanie.lines["variants.2"]) == (2, 4)
    socks = products["trail-socks"].sheet
    assert (socks.name, socks.price, socks.stock, socks.variants) == ("Trail Socks (2 pairs)", Decimal("15.00"), 60, [])


def test_shopify_csv_row_with_a_bad_price_names_its_line() -> None:
    text = (
        "Handle,Title,Option1 Name,Option1 Value,Variant Price,Variant Inventory Qty\n"
        "cap,Cap,Color,Red,12.00,4\n"
        "cap,,,Blue,$13,2\n"
        "hat,Hat,Title,Default Title,,\n"
    )
    result = read_product_text(text, fmt="csv", file="export.csv")
    assert [lp.sheet.id for lp in result.products] == ["cap"]
    cap = result.products[0].sheet
    assert [v.name for v in cap.variants] == ["Red"] and cap.stock == 4
    got = {(p.line, p.field) for p in errors_in(result.problems)}
    assert got == {(3, "variants.1.price"), (4, "price")}  # the hat has no price at all: it cannot be sold


# ---- unreadable values --------------------------------------------------------------------------------------


def test_a_bad_field_is_left_out_and_the_rest_of_the_product_loads() -> None:
    products, problems = load("bad-field.yaml")
    assert list(products) == ["camp-chair", "camp-lantern"]
    chair = products["camp-chair"].sheet
    assert chair.price == Decimal("49.0") and chair.specs == {"weight_kg": 2.4}
    assert [f.q for f in chair.faq] == ["Does it fold flat?"]
    assert [v.name for v in chair.variants] == ["Sand"]
    assert chair.stock == 4  # "lots" is left out; the variants' stock stands in
    got = [(p.line, p.field, p.severity) for p in problems]
    assert got == [
        (4, "stock", "error"),
        (11, "specs.frame.legs.feet.caps", "error"),
        (15, "faq.1.a", "error"),
        (18, "variants.0.price", "error"),
        (24, "price", "error"),  # "about 30": the table cannot be sold, its neighbours load
    ]
    assert all("left out" in p.message for p in problems[:4]) and "left out" not in problems[4].message
    assert str(problems[0]).startswith(f"{SHAPES / 'bad-field.yaml'}:4: stock: expected a whole number, got 'lots'")


def test_a_product_left_without_any_readable_price_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("- id: a\n  name: A\n  variants:\n    - {name: Red, price: cheap}\n- {id: b, name: B, price: 2}\n")
    result = read_product_file(f)
    assert [lp.sheet.id for lp in result.products] == ["b"] and result.failed == [(0, "a")]
    got = [(p.line, p.field) for p in result.problems]
    assert got == [(1, "price"), (4, "variants.0.price")]
    assert not any("left out" in p.message for p in result.problems)  # nothing of "a" was loaded


def test_unknown_section_is_left_out_with_a_suggestion(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("id: a\nname: A\nprice: 1\nsections:\n  hook: Look!\n  hok: Typo\n")
    (loaded,), problems = read_product_file(f).products, read_product_file(f).problems
    assert loaded.sheet.sections == {"hook": "Look!"}
    (p,) = problems
    assert (p.line, p.field) == (6, "sections.hok") and "did you mean 'hook'?" in p.hint


def test_variant_without_price_and_a_list_price_below_the_product_price_loses_only_its_list_price(
    tmp_path: Path,
) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("id: a\nname: A\nprice: 20\nvariants:\n  - name: Red\n    list_price: 15\n    stock: 2\n")
    result = read_product_file(f)
    (v,) = result.products[0].sheet.variants
    assert (v.name, v.list_price, v.stock) == ("Red", None, 2)
    (p,) = result.problems
    assert (p.line, p.field) == (6, "variants.0.list_price") and "below the product's price" in p.message


# ---- catalog and guards -------------------------------------------------------------------------------------


def test_catalog_reads_shopify_files_in_its_default_currency(tmp_path: Path) -> None:
    (tmp_path / "products.json").write_text((SHAPES / "shopify-products.json").read_text())
    (tmp_path / "export.csv").write_text((SHAPES / "shopify-export.csv").read_text())

    async def main() -> None:
        async with ProductCatalog(tmp_path, default_currency="EUR") as catalog:
            await catalog.refresh()
            assert set(catalog.ids) == {"merino-beanie", "trail-socks", "trail-fleece-hoodie", "enamel-camp-mug"}
            assert {p.currency for p in catalog.products} == {"EUR"}

    asyncio.run(main())
    with pytest.raises(ValueError, match="XYZ"):
        ProductCatalog(tmp_path, default_currency="XYZ")


def test_variant_prices_savings_and_stock_are_guard_facts() -> None:
    products, _ = load("shopify-products.json")
    hoodie = products["trail-fleece-hoodie"].sheet
    facts = product_facts(hoodie)
    for amount in ("59.00", "64.00", "79.00", "20.00"):  # prices, list price and the saving
        assert Decimal(amount) in facts.money, amount
    assert Decimal(25) in facts.discounts  # 20 off 79
    assert {Decimal(12), Decimal(5), Decimal(0), Decimal(17)} <= facts.stock_counts
    # a variant's price that nobody wrote is not a fact
    assert Decimal("61.00") not in facts.money
    # a number in a variant's name is a sheet fact
    pack = sheet(price=10, variants=[{"name": "Pack of 6", "price": 50}])
    assert Decimal(6) in product_facts(pack).numbers and Decimal(50) in product_facts(pack).money
    # the guard's cache notices a changed variant
    cheaper = hoodie.model_copy(update={"variants": [hoodie.variants[0].model_copy(update={"price": Decimal(1)})]})
    assert _fingerprint(cheaper) != _fingerprint(hoodie)
