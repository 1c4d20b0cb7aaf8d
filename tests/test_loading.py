"""Loading persona, stream settings and product files: good files load, bad ones name file, line, field and fix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from streamer.config import SECTION_NAMES, ProductSheet
from streamer.loading import (
    ConfigError,
    ConfigProblem,
    check_all,
    errors_in,
    expand_env,
    load_persona,
    load_product_file,
    load_stream_config,
    product_files,
    read_product_text,
    read_products,
    read_stream_config,
    redact_url,
)
from streamer.products.images import (
    ImageLoadError,
    initials,
    load_product_image,
    placeholder_image,
    read_image,
)

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "data" / "bad"
EXAMPLES = product_files(ROOT / "products")  # the sheets, not the images folder beside them


def only(problems: list[ConfigProblem], severity: str = "error") -> list[ConfigProblem]:
    return [p for p in problems if p.severity == severity]


# ---- problems and secrets -----------------------------------------------------------------------------------


def test_problem_text_names_file_line_field_and_hint() -> None:
    p = ConfigProblem("products/mug.yaml", 7, "price", "must be a number like 19.99, not text '$19'", "drop the $")
    assert str(p) == "products/mug.yaml:7: price: must be a number like 19.99, not text '$19' (hint: drop the $)"
    w = ConfigProblem("products/mug.yaml", None, "colour", "unknown field", "", "warning")
    assert str(w) == "products/mug.yaml: warning: colour: unknown field"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtmp://live.twitch.tv/app/live_123456_abcdef", "rtmp://live.twitch.tv/app/****"),
        ("rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh-ijkl", "rtmps://a.rtmps.youtube.com:443/live2/****"),
        ("rtmp://host/live/key/more", "rtmp://host/live/****"),
        ("rtmp://host/live/${TWITCH_STREAM_KEY}", "rtmp://host/live/${TWITCH_STREAM_KEY}"),
        ("rtmp://host/live", "rtmp://host/live"),
        ("rtmp://user:hunter2@host/live/k", "rtmp://user:****@host/live/****"),
        ("https://shop.example/feed.json?token=s3cret&x=1#frag", "https://shop.example/feed.json?token=****&x=****"),
        ("recordings/show.flv", "recordings/show.flv"),
    ],
)
def test_redact_url_hides_stream_keys_passwords_and_query_values(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_expand_env_reports_missing_variables_without_values() -> None:
    text, missing = expand_env("rtmp://h/app/${KEY}/${NOPE}", {"KEY": "abc"})
    assert text == "rtmp://h/app/abc/${NOPE}"
    assert missing == ["NOPE"]


# ---- persona ------------------------------------------------------------------------------------------------


def test_example_persona_loads_with_every_field_set() -> None:
    persona, warnings = load_persona(ROOT / "personas" / "host.yaml")
    assert warnings == []
    assert persona.name == "Joe"
    assert persona.voice.voice == "en_US-joe-medium"
    assert persona.avatar.hair_style == "short" and persona.avatar.outfit_style == "blazer"
    assert all("{name}" in t for t in persona.style.transitions)
    assert persona.patter.sections == list(SECTION_NAMES)
    assert persona.disclosure.notice and persona.disclosure.notice_s == 4.0
    assert persona.banned_topics
    raw = (ROOT / "personas" / "host.yaml").read_text()
    for field in type(persona).model_fields:
        assert f"{field}:" in raw, f"example persona does not show {field}"


def test_unknown_persona_key_names_line_and_suggests_closest_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_persona(BAD / "persona_unknown_key.yaml")
    problems = {p.field: p for p in info.value.problems}
    voise = problems["voise"]
    assert (voise.line, voise.message) == (3, "unknown key")
    assert "did you mean 'voice'?" in voise.hint
    # an unquoted colour is a YAML comment: the hint says so
    hair = problems["avatar.hair"]
    assert hair.line == 6 and "quote" in hair.hint
    style = problems["avatar.hair_style"]
    assert style.line == 7 and "'curly'" in style.message
    assert str(voise).startswith(f"{BAD / 'persona_unknown_key.yaml'}:3: voise: unknown key")


def test_persona_placeholder_other_than_name_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("name: Joe\nstyle:\n  transitions:\n    - Next, the {name}!\n    - Here is {product}.\n")
    with pytest.raises(ConfigError) as info:
        load_persona(f)
    (p,) = info.value.problems
    assert (p.line, p.field) == (5, "style.transitions.1")
    assert "{product}" in p.message


def test_persona_unknown_language_is_a_warning(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("name: Jo\nlanguage: pt-BR\n")
    persona, warnings = load_persona(f)
    assert persona.ai_label == "AI-generated"
    assert [(w.field, w.line, w.severity) for w in warnings] == [("language", 2, "warning")]


def test_empty_and_missing_persona_files_are_problems_not_tracebacks(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(ConfigError) as info:
        load_persona(empty)
    assert "empty" in info.value.problems[0].message
    with pytest.raises(ConfigError) as info:
        load_persona(tmp_path / "nope.yaml")
    assert info.value.problems[0].message == "file not found"


# ---- stream settings ----------------------------------------------------------------------------------------


def test_stream_example_expands_env_and_resolves_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWITCH_STREAM_KEY", "live_42_topsecret")
    cfg = load_stream_config(ROOT / "stream.example.yaml")
    assert cfg.out == ["rtmp://live.twitch.tv/app/live_42_topsecret"]
    assert Path(cfg.persona or "") == ROOT / "personas" / "host.yaml"
    assert Path(cfg.products or "") == ROOT / "products"
    assert Path(cfg.recordings_dir) == ROOT / "recordings"
    assert (cfg.video.width, cfg.video.height, cfg.video.fps) == (1280, 720, 30)
    raw = (ROOT / "stream.example.yaml").read_text()
    for field in type(cfg).model_fields:
        assert f"{field}:" in raw, f"stream.example.yaml does not document {field}"


def test_stream_missing_env_var_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWITCH_STREAM_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        load_stream_config(ROOT / "stream.example.yaml")
    (p,) = errors_in(info.value.problems)
    assert (p.line, p.field) == (9, "out.0")
    assert "TWITCH_STREAM_KEY is not set" in p.message


def test_stream_errors_never_show_stream_keys(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("out: rtmp://live.twitch.tv/app/live_123456_SECRETKEY\nvideo:\n  widht: 1280\n  fps: 120\n")
    with pytest.raises(ConfigError) as info:
        load_stream_config(f)
    text = "\n".join(str(p) for p in info.value.problems)
    assert "SECRETKEY" not in text and "SECRETKEY" not in str(info.value)
    assert "rtmp://live.twitch.tv/app/****" in text
    by_field = {p.field: p for p in info.value.problems}
    assert by_field["out"].line == 1 and "expected a list" in by_field["out"].message
    assert by_field["video.widht"].line == 3 and "did you mean 'width'?" in by_field["video.widht"].hint
    assert by_field["video.fps"].line == 4 and "60" in by_field["video.fps"].message


def test_stream_bad_outputs_and_missing_files_are_reported(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "persona: nowhere/host.yaml\n"
        "out:\n  - rtmp://live.twitch.tv/app/live_1_KEY\n  - http://example.com/x?key=K2\n  - show.avi\n"
    )
    with pytest.raises(ConfigError) as info:
        read_stream_config(f)
    got = {(p.line, p.field) for p in errors_in(info.value.problems)}
    assert got == {(1, "persona"), (4, "out.1"), (5, "out.2")}
    assert "K2" not in "\n".join(map(str, info.value.problems))


# ---- product files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_product_files_load_clean(path: Path) -> None:
    products, problems = load_product_file(path)
    assert problems == []
    assert products
    for p in products:
        assert p.price > 0 and p.features and p.specs and p.shipping and p.stock is not None
        assert len(p.faq) >= 3
        assert p.image and read_image(p.image, path.parent).ndim == 3  # every example shows its picture


def test_examples_cover_three_formats_and_hand_written_sections() -> None:
    assert {p.suffix for p in EXAMPLES} >= {".yaml", ".json", ".csv"}
    products, problems = read_products(ROOT / "products")
    assert errors_in(problems) == []
    assert len(products) >= 3
    assert sum(1 for p in products if p.sheet.sections) >= 3
    assert all(p.sheet.list_price is None or p.sheet.list_price >= p.sheet.price for p in products)


def test_check_all_on_examples_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWITCH_STREAM_KEY", "k")
    assert check_all(None, None, ROOT / "stream.example.yaml") == []


@pytest.mark.parametrize(
    ("name", "line", "field", "words"),
    [
        ("broken_indent.yaml", 7, "", "YAML syntax error"),
        ("tabs.yaml", 5, "", "tabs"),
        ("unclosed_quote.yaml", 2, "", "never closed"),
        ("price_text.yaml", 7, "price", "must be a number like 19.99, not text '$19'"),
        ("missing_name.yaml", 1, "name", "required field is missing"),
        ("faq_wrong_type.yaml", 13, "faq.3", "expected a mapping"),
        ("bad_syntax.json", 5, "", "JSON syntax error"),
        ("wrong_type.json", 8, "stock", "expected a whole number, got 'plenty'"),
    ],
)
def test_bad_product_file_names_line_and_field(name: str, line: int, field: str, words: str) -> None:
    _, problems = load_product_file(BAD / name)
    errors = errors_in(problems)
    assert errors, problems
    hit = [p for p in errors if p.line == line and p.field == field]
    assert hit, [str(p) for p in errors]
    text = str(hit[0]) + " " + hit[0].hint
    assert words in text
    assert hit[0].hint  # every error says how to fix it
    assert str(hit[0]).startswith(f"{BAD / name}:{line}: ")


def test_syntax_errors_give_the_column() -> None:
    _, problems = load_product_file(BAD / "broken_indent.yaml")
    assert "(column 2)" in problems[0].message
    _, problems = load_product_file(BAD / "unclosed_quote.yaml")
    assert "(column 7)" in problems[0].message


def test_faq_entry_that_is_not_a_mapping_is_reported_on_its_line_and_left_out() -> None:
    products, problems = load_product_file(BAD / "faq_wrong_type.yaml")
    assert {(p.line, p.field) for p in problems} == {(13, "faq.3")}
    assert "left out" in problems[0].message
    (product,) = products  # the product still loads, without the entry nobody can read
    assert [(f.q, f.a) for f in product.faq][2:] == [("What colours are there?", "blue and sand")]
    assert len(product.faq) == 3


def test_bad_product_in_a_list_does_not_stop_the_others() -> None:
    products, problems = load_product_file(BAD / "partial_list.yaml")
    assert [p.id for p in products] == ["mug-350", "bowl-15"]
    (p,) = problems
    assert (p.line, p.field) == (7, "list_price")
    assert "below price" in p.message


def test_unknown_product_fields_are_kept_and_warned_about() -> None:
    products, problems = load_product_file(BAD / "unknown_field.yaml")
    (product,) = products
    assert product.model_extra == {"colour": "ocean blue", "lsit_price": 19.0}
    assert errors_in(problems) == []
    warnings = {p.field: p for p in problems}
    assert warnings["colour"].line == 4 and warnings["colour"].severity == "warning"
    assert warnings["lsit_price"].line == 5 and "did you mean 'list_price'?" in warnings["lsit_price"].hint


def test_duplicate_ids_across_files_name_both_files() -> None:
    products, problems = read_products(BAD / "dup_ids")
    assert [p.sheet.id for p in products] == ["mug-350", "mug-500"]
    assert products[0].sheet.name == "Stoneware Mug"  # the first file wins
    (p,) = problems
    assert p.file.endswith("b_more.yaml") and (p.line, p.field) == (1, "id")
    assert "a_mugs.yaml:1" in p.message


def test_duplicate_ids_within_one_file_are_errors(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("- {id: a, name: A, price: 1}\n- {id: b, name: B, price: 2}\n- {id: a, name: A2, price: 3}\n")
    products, problems = load_product_file(f)
    assert [p.name for p in products] == ["A", "B"]
    assert [(p.line, p.field) for p in problems] == [(3, "id")]
    assert "first at line 1" in problems[0].message


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("id: a\nname: A\nprice: 1\nprice: 2\n")
    _, problems = load_product_file(f)
    assert [(p.line, p.field, p.severity) for p in problems] == [(4, "price", "error")]
    assert "line 3" in problems[0].message


def test_json_keeps_prices_exact_and_lines_with_tab_indentation(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(
        '[\n\t{"id": "a", "name": "A", "price": 0.1, "specs": {"w": 1.5}},\n\t{"id": "b", "name": "B",\n'
        '\t "price": 2, "stock": -1}\n]\n'
    )
    products, problems = load_product_file(f)
    assert products[0].price == Decimal("0.1") and products[0].specs == {"w": 1.5}
    assert [(p.line, p.field) for p in problems] == [(4, "stock")]


def test_csv_conventions() -> None:
    text = (
        "ID,Name,Price,List_Price,Features,Specs,specs.colour,FAQ,sections.hook,Stock\n"
        "# a comment row\n"
        'm1,"Mug, large",12.5,15,Glazed; Holds 500 ml,volume_ml=500; height_cm=11.5; glaze=matte,sand,'
        '"Microwave?::Yes. || Dishwasher?::Top rack.",Look at this!|Big mug.,7\n'
        "\n"
    )
    result = read_product_text(text, fmt="csv", file="mugs.csv")
    assert result.problems == []
    (loaded,) = result.products
    p = loaded.sheet
    assert (p.id, p.name, p.price, p.list_price, p.stock) == ("m1", "Mug, large", Decimal("12.5"), Decimal(15), 7)
    assert p.features == ["Glazed", "Holds 500 ml"]
    assert p.specs == {"volume_ml": 500, "height_cm": 11.5, "glaze": "matte", "colour": "sand"}
    assert [(f.q, f.a) for f in p.faq] == [("Microwave?", "Yes."), ("Dishwasher?", "Top rack.")]
    assert p.sections == {"hook": ["Look at this!", "Big mug."]}
    assert loaded.line == 3


def test_csv_semicolon_delimiter_and_bom() -> None:
    text = "\ufeffid;name;price;features\nm1;Mug;12.50;A | B\n"
    result = read_product_text(text, fmt="csv", file="m.csv")
    assert result.problems == [] and result.products[0].sheet.features == ["A", "B"]


def test_csv_bad_rows_are_reported_on_their_lines_and_good_rows_load() -> None:
    products, problems = load_product_file(BAD / "bad_row.csv")
    # the $17.50 price cannot be sold; the unreadable stock and FAQ entry are left out of their products
    assert [p.id for p in products] == ["mug-350", "tea-pot", "bowl-15"]
    assert products[0].model_extra == {"colour": "blue"}
    assert products[1].stock is None and products[1].name == "Tea Pot\nwith a long name"
    assert products[2].faq == [] and products[2].stock == 3
    got = {(p.line, p.field, p.severity) for p in problems}
    assert got == {
        (1, "colour", "warning"),  # unknown column
        (3, "price", "error"),  # $17.50
        (4, "stock", "error"),  # a row whose quoted name spans lines 4-5 is reported at its first line
        (6, "faq.0", "error"),  # no '::'
    }


def test_csv_unclosed_quote_names_the_row(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text('id,name,price\na,A,1\nb,"B is broken,2\nc,C,3\n')
    products, problems = load_product_file(f)
    assert products == []
    assert [(p.line, p.severity) for p in problems] == [(3, "error")]
    assert "never closed" in problems[0].message


def test_product_file_that_is_not_utf8_is_a_problem(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_bytes(b"id: a\nname: Caf\xe9\nprice: 1\n")
    products, problems = load_product_file(f)
    assert products == [] and (problems[0].line, problems[0].severity) == (2, "error")
    assert "UTF-8" in problems[0].message


def test_text_where_a_product_belongs_is_explained(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("just some words\n")
    _, problems = load_product_file(f)
    assert problems[0].line == 1 and "expected a product" in problems[0].message


# ---- images -------------------------------------------------------------------------------------------------


def test_check_all_reports_a_missing_image_as_a_warning_on_its_line() -> None:
    problems = check_all(ROOT / "personas" / "host.yaml", BAD / "missing_image.yaml")
    (p,) = problems
    assert (p.file, p.line, p.field, p.severity) == (str(BAD / "missing_image.yaml"), 4, "image", "warning")
    assert "does-not-exist.jpg" in p.message and "placeholder" in p.message


def test_check_all_collects_problems_from_every_file_sorted() -> None:
    problems = check_all(BAD / "persona_unknown_key.yaml", BAD / "dup_ids")
    files = [p.file for p in problems]
    assert files == sorted(files)
    assert any(p.field == "voise" for p in problems) and any(p.field == "id" for p in problems)


def test_package_images_decode_to_bgr() -> None:
    coffee = read_image("package:skimage/data/coffee.png")
    assert coffee.dtype == np.uint8 and coffee.shape == (400, 600, 3)
    rocket = load_product_image("package:skimage/data/rocket.jpg", None)
    assert rocket is not None and rocket.shape[2] == 3


def test_image_problems_explain_themselves(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError) as info:
        read_image("package:skimage/data/coffe.png")
    assert "coffee.png" in info.value.hint
    (tmp_path / "x.png").write_bytes(b"not a png")
    assert load_product_image("x.png", tmp_path) is None
    with pytest.raises(ImageLoadError, match=r"cannot be decoded|not a picture"):
        read_image("x.png", tmp_path)


def test_transparent_png_is_flattened_on_white(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "t.png")
    img = read_image("t.png", tmp_path)
    assert img.shape == (4, 4, 3) and (img == 255).all()


def test_placeholder_is_a_bgr_tile_in_a_colour_per_name() -> None:
    a = placeholder_image("Calming Donut Cat Bed", (320, 240))
    b = placeholder_image("Moon Night Light", (320, 240))
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, b)
    assert np.array_equal(a, placeholder_image("Calming Donut Cat Bed", (320, 240)))
    assert a.std() > 5  # something is drawn on it
    assert initials("calming donut cat bed") == "CD" and initials("猫窝") == "猫" and initials("") == ""


def test_product_sheet_model_is_unchanged_by_loading() -> None:
    # The loader adds nothing to the model: extras are the user's own fields only.
    products, _ = load_product_file(ROOT / "products" / "coffee-beans.yaml")
    assert isinstance(products[0], ProductSheet) and products[0].model_extra == {}


def test_spec_lists_become_text_and_an_unreadable_spec_is_left_out(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("id: a\nname: A\nprice: 1\nspecs:\n  weight: [1, 2]\n  blob: !!binary aGVsbG8=\n  size: M\n")
    (product,), problems = load_product_file(f)
    assert product.specs == {"weight": "1 and 2", "size": "M"}
    (p,) = problems
    assert (p.line, p.field, p.severity) == (6, "specs.blob", "error")
    assert p.message == "binary data cannot be read as text; left out, the rest of the product loads"


@pytest.mark.integration
def test_check_all_reads_products_from_a_url(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = b'[{"id": "a", "name": "A", "price": 1, "image": "package:skimage/data/nope.png"}, {"id": "b"}]'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/feed?key=SECRET"
        problems = check_all(ROOT / "personas" / "host.yaml", url)
    finally:
        server.shutdown()
        server.server_close()
    assert {(p.line, p.field, p.severity) for p in problems} == {
        (1, "image", "warning"),
        (1, "name", "error"),
        (1, "price", "error"),
    }
    assert all("SECRET" not in str(p) for p in problems)


def test_stream_outputs_may_be_whip_endpoints_with_their_token_elsewhere(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("out:\n  - whip+https://ingest.example/whip/${ROOM}\n  - rec/show.flv\n")
    cfg, problems = read_stream_config(f, env={"ROOM": "room-7"})
    assert cfg.out == ["whip+https://ingest.example/whip/room-7", str(tmp_path / "rec" / "show.flv")]
    assert errors_in(problems) == []
