"""Persona and product files edited from the dashboard: every problem has its line and field; bad edits are never
written; good ones replace the file atomically."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from streamer.dashboard.editor import ConfigFiles, UnknownFile
from streamer.loading import read_products

from .conftest import REPO


@pytest.fixture
def files(tmp_path: Path) -> ConfigFiles:
    shutil.copy(REPO / "personas/host.yaml", tmp_path / "host.yaml")
    shutil.copytree(REPO / "products", tmp_path / "products")
    return ConfigFiles(persona_path=tmp_path / "host.yaml", products_source=str(tmp_path / "products"))


def test_lists_the_persona_and_every_product_file(files: ConfigFiles):
    ids = [f.id for f in files.files()]
    assert ids[0] == "persona"
    folder = files.persona_path.parent / "products"
    sheets = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml", ".json", ".csv"))
    assert ids[1:] == [f"product:{p.name}" for p in sheets]
    assert "product:images" not in ids  # the pictures folder beside the sheets is not a sheet
    with pytest.raises(UnknownFile):
        files.get("product:../../etc/passwd")


def test_a_persona_error_names_its_line_and_field_and_is_never_saved(files: ConfigFiles):
    original = files.read("persona")
    bad = original.replace("speed: 1.05", "speed: fast")
    line = bad.splitlines().index(next(s for s in bad.splitlines() if "speed: fast" in s)) + 1
    result = files.check("persona", bad)
    assert not result.ok and result.persona is None
    [problem] = [p for p in result.problems if p.is_error]
    assert (problem.line, problem.field) == (line, "voice.speed")
    with pytest.raises(ValueError):
        files.save(result, bad)
    assert files.read("persona") == original


def test_a_yaml_syntax_error_and_an_unknown_key_are_reported_where_they_are(files: ConfigFiles):
    syntax = files.check("persona", "name: Joe\nstyle:\n  greetings: [unclosed\n")
    assert not syntax.ok and syntax.problems[0].line is not None
    unknown = files.check("persona", "name: Joe\ngreetings:\n  - Hello!\n")
    [p] = unknown.problems
    assert (p.line, p.field, p.message) == (2, "greetings", "unknown key") and "style" in p.hint


def test_a_good_persona_edit_is_saved_whole_and_parsed(files: ConfigFiles, tmp_path: Path):
    text = files.read("persona").replace("Hi everyone, it's Joe", "Good evening, friends, it's Joe")
    result = files.check("persona", text)
    assert result.ok and result.persona is not None
    assert result.persona.style.greetings[0].startswith("Good evening, friends")
    files.save(result, text)
    assert files.read("persona") == text
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind


def test_a_product_edit_is_checked_against_the_other_files(files: ConfigFiles):
    folder = files.persona_path.parent / "products"
    loaded, _ = read_products(folder)
    others = [[p for p in loaded if Path(p.file).name != "cat-bed.yaml"]]
    text = files.read("product:cat-bed.yaml")
    other_id = next(p.sheet.id for p in loaded if Path(p.file).name == "coffee-beans.yaml")
    clash = text.replace("id: cat-bed-donut-60", f"id: {other_id}")
    result = files.check("product:cat-bed.yaml", clash, others=others)
    assert not result.ok
    assert [(p.line, p.field) for p in result.problems if p.is_error] == [(1, "id")]
    cheaper = text.replace("price: 39.90", "price: 35.00")
    ok = files.check("product:cat-bed.yaml", cheaper, others=others)
    assert ok.ok and ok.products[0].sheet.price == Decimal("35")
    bad_price = text.replace("price: 39.90", "price: free")
    result = files.check("product:cat-bed.yaml", bad_price, others=others)
    assert [(p.line, p.field) for p in result.problems if p.is_error] == [(3, "price")]


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("/etc/passwd", "outside the products folder"),
        ("../../host.yaml", "outside the products folder"),
        ("http://127.0.0.1:8080/x.png", "this machine or a private network"),
        ("http://localhost/x.png", "this machine or a private network"),
        ("http://10.0.0.7/x.png", "this machine or a private network"),
        ("http://169.254.169.254/latest/meta-data", "this machine or a private network"),
        ("http://[::1]/x.png", "this machine or a private network"),
        ("http://printer.local/x.png", "this machine or a private network"),
    ],
)
def test_a_dashboard_edit_may_not_point_a_picture_outside_the_folder_or_at_private_addresses(
    files: ConfigFiles, image: str, why: str
) -> None:
    text = files.read("product:cat-bed.yaml")
    assert "image: " in text
    edited = "\n".join(f"image: {image}" if line.startswith("image: ") else line for line in text.splitlines())
    result = files.check("product:cat-bed.yaml", edited)
    errors = [p for p in result.problems if p.is_error]
    assert len(errors) == 1 and errors[0].field == "image" and why in errors[0].message, errors
    assert errors[0].line == next(i for i, line in enumerate(edited.splitlines(), 1) if line.startswith("image: "))
    assert not result.ok


@pytest.mark.parametrize(
    "image", ["images/cat-bed.png", "https://cdn.shop.example/cat-bed.jpg", "package:skimage/data/coffee.png"]
)
def test_pictures_in_the_folder_public_urls_and_package_data_are_fine(files: ConfigFiles, image: str) -> None:
    text = files.read("product:cat-bed.yaml")
    edited = "\n".join(f"image: {image}" if line.startswith("image: ") else line for line in text.splitlines())
    result = files.check("product:cat-bed.yaml", edited)
    assert not [p for p in result.problems if p.is_error and p.field == "image"]
