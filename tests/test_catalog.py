"""The live product catalog: re-reads pick up changes, bad re-reads keep the last good products, HTTP is cheap."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from streamer.products import CatalogUpdate, ProductCatalog

ROOT = Path(__file__).resolve().parent.parent

MUG = "id: mug\nname: Stoneware Mug\nprice: {price}\nstock: 12\n"
BOWLS = "- id: bowl-s\n  name: Small Bowl\n  price: {small}\n- id: bowl-l\n  name: Large Bowl\n  price: 12.00\n"


def write(path: Path, text: str) -> None:
    """Rewrite a file and move its mtime on, as a later edit would (some file systems tick coarsely)."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_directory_catalog_loads_all_formats_in_name_order() -> None:
    async def main() -> None:
        async with ProductCatalog(ROOT / "products", refresh_s=10) as catalog:
            assert catalog.products == [] and catalog.version == 0
            update = await catalog.refresh()
            assert update.changed and update.version == 1 == catalog.version
            assert catalog.ids == [
                "cat-bed-donut-60",
                "coffee-yirgacheffe-1kg",
                "rocket-kit-saturn-1-100",
                "poster-hubble-deep-field",
                "lamp-moon-15",
            ]
            assert catalog.problems == []
            coffee = catalog.get("coffee-yirgacheffe-1kg")
            assert coffee is not None and coffee.price == Decimal("24.99")
            assert catalog.get("nope") is None

    run(main())


def test_changed_price_is_picked_up_and_bumps_the_version(tmp_path: Path) -> None:
    write(tmp_path / "mug.yaml", MUG.format(price="14.50"))

    async def main() -> None:
        catalog = ProductCatalog(tmp_path, refresh_s=1)
        await catalog.refresh()
        first = catalog.version
        same = await catalog.refresh()
        assert not same.changed and catalog.version == first
        write(tmp_path / "mug.yaml", MUG.format(price="12.99"))
        update = await catalog.refresh()
        assert update.changed and update.modified == ("mug",) and update.version == first + 1
        mug = catalog.get("mug")
        assert mug is not None and mug.price == Decimal("12.99")

    run(main())


def test_same_tick_rewrite_of_the_same_size_is_still_seen(tmp_path: Path) -> None:
    f = tmp_path / "mug.yaml"
    f.write_text(MUG.format(price="14.50"))

    async def main() -> None:
        catalog = ProductCatalog(tmp_path, refresh_s=1)
        await catalog.refresh()
        st = f.stat()
        f.write_text(MUG.format(price="19.50"))  # same size; force the same mtime as before
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert f.stat().st_size == st.st_size
        update = await catalog.refresh()
        assert update.changed and catalog.products[0].price == Decimal("19.50")

    run(main())


def test_file_that_becomes_invalid_keeps_its_last_good_products(tmp_path: Path) -> None:
    write(tmp_path / "a_mug.yaml", MUG.format(price="14.50"))
    write(tmp_path / "b_bowls.yaml", BOWLS.format(small="8.00"))

    async def main() -> None:
        catalog = ProductCatalog(tmp_path, refresh_s=1)
        await catalog.refresh()
        version = catalog.version
        write(tmp_path / "a_mug.yaml", "id: mug\nname: Stoneware Mug\n price: 3\n")  # broken indentation
        update = await catalog.refresh()
        assert not update.changed and catalog.version == version
        assert catalog.ids == ["mug", "bowl-s", "bowl-l"]
        assert update.has_errors and update.kept_stale == ("mug",)
        errors = [p for p in catalog.problems if p.is_error]
        assert [(p.file, p.line) for p in errors] == [(str(tmp_path / "a_mug.yaml"), 3)]
        # fixing the file clears the problem and applies the edit
        write(tmp_path / "a_mug.yaml", MUG.format(price="9.99"))
        update = await catalog.refresh()
        assert update.changed and catalog.problems == []
        assert catalog.get("mug").price == Decimal("9.99")  # type: ignore[union-attr]

    run(main())


def test_one_broken_product_keeps_its_old_version_while_its_neighbours_update(tmp_path: Path) -> None:
    write(tmp_path / "bowls.yaml", BOWLS.format(small="8.00"))

    async def main() -> None:
        catalog = ProductCatalog(tmp_path, refresh_s=1)
        await catalog.refresh()
        write(tmp_path / "bowls.yaml", BOWLS.format(small='"$7"').replace("12.00", "11.00"))
        update = await catalog.refresh()
        assert update.changed and update.modified == ("bowl-l",) and update.kept_stale == ("bowl-s",)
        assert catalog.ids == ["bowl-s", "bowl-l"]
        assert catalog.get("bowl-s").price == Decimal("8.00")  # type: ignore[union-attr]
        assert catalog.get("bowl-l").price == Decimal("11.00")  # type: ignore[union-attr]
        (error,) = [p for p in update.problems if p.is_error]
        assert (error.line, error.field) == (3, "price")

    run(main())


def test_deleted_file_removes_its_products_and_new_file_adds(tmp_path: Path) -> None:
    write(tmp_path / "a_mug.yaml", MUG.format(price="14.50"))
    write(tmp_path / "b_bowls.yaml", BOWLS.format(small="8.00"))

    async def main() -> None:
        catalog = ProductCatalog(tmp_path, refresh_s=1)
        await catalog.refresh()
        (tmp_path / "b_bowls.yaml").unlink()
        update = await catalog.refresh()
        assert update.removed == ("bowl-s", "bowl-l") and catalog.ids == ["mug"]
        write(tmp_path / "c.csv", "id,name,price\ncup,Cup,4.00\n")
        (tmp_path / ".hidden.yaml").write_text("not: [valid")  # editor temp files are ignored
        update = await catalog.refresh()
        assert update.added == ("cup",) and catalog.ids == ["mug", "cup"] and catalog.problems == []

    run(main())


def test_duplicate_ids_across_files_keep_the_first(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", MUG.format(price="14.50"))
    write(tmp_path / "b.yaml", MUG.format(price="1.00"))

    async def main() -> None:
        catalog = ProductCatalog(tmp_path, refresh_s=1)
        await catalog.refresh()
        assert catalog.get("mug").price == Decimal("14.50")  # type: ignore[union-attr]
        (p,) = catalog.problems
        assert p.file == str(tmp_path / "b.yaml") and str(tmp_path / "a.yaml") in p.message

    run(main())


def test_single_file_source_that_disappears_keeps_products(tmp_path: Path) -> None:
    f = tmp_path / "mug.yaml"
    write(f, MUG.format(price="14.50"))

    async def main() -> None:
        catalog = ProductCatalog(f, refresh_s=1)
        await catalog.refresh()
        f.unlink()
        update = await catalog.refresh()
        assert not update.changed and catalog.ids == ["mug"]
        assert any("not found" in p.message and p.is_error for p in catalog.problems)
        write(f, MUG.format(price="15.00"))
        update = await catalog.refresh()
        assert update.changed and catalog.problems == [] and catalog.products[0].price == Decimal("15.00")

    run(main())


def test_run_refreshes_on_schedule_and_reports_changes(tmp_path: Path) -> None:
    write(tmp_path / "mug.yaml", MUG.format(price="14.50"))
    now = [100.0]
    sleeps: list[float] = []
    updates: list[CatalogUpdate] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s
        if len(sleeps) == 1:
            write(tmp_path / "mug.yaml", MUG.format(price="13.00"))
        if len(sleeps) == 3:
            raise asyncio.CancelledError

    async def on_change(update: CatalogUpdate) -> None:
        now[0] += 0.25  # a handler that takes a while: the schedule stays start to start
        updates.append(update)

    async def main() -> None:
        catalog = ProductCatalog(tmp_path, refresh_s=5, clock=lambda: now[0], sleep=fake_sleep)
        try:
            await catalog.run(on_change)
        except asyncio.CancelledError:
            pass
        assert [u.version for u in updates] == [1, 2]
        assert sleeps == [4.75, 4.75, 5.0]

    run(main())


def test_run_survives_a_failing_handler(tmp_path: Path) -> None:
    write(tmp_path / "mug.yaml", MUG.format(price="14.50"))
    calls: list[int] = []

    async def fake_sleep(s: float) -> None:
        raise asyncio.CancelledError

    def handler(update: CatalogUpdate) -> None:
        calls.append(update.version)
        raise RuntimeError("handler bug")

    async def main() -> None:
        catalog = ProductCatalog(tmp_path, refresh_s=5, sleep=fake_sleep)
        try:
            await catalog.run(handler)
        except asyncio.CancelledError:
            pass
        assert calls == [1] and catalog.ids == ["mug"]

    run(main())


def test_image_for_gives_the_picture_or_a_placeholder(tmp_path: Path) -> None:
    write(
        tmp_path / "p.yaml",
        "- {id: a, name: Coffee, price: 1, image: 'package:skimage/data/coffee.png'}\n"
        "- {id: b, name: Blue Mug, price: 1, image: missing.jpg}\n"
        "- {id: c, name: Plain Cup, price: 1}\n",
    )

    async def main() -> None:
        async with ProductCatalog(tmp_path, refresh_s=1) as catalog:
            await catalog.refresh()
            coffee = await catalog.image_for("a")
            assert (await catalog.image_for(catalog.products[0])) is coffee  # a sheet works as well as its id
            assert coffee.shape == (400, 600, 3)
            assert (await catalog.image_for("a")) is coffee  # cached
            missing = await catalog.image_for("b", size=(200, 100))
            assert missing.shape == (100, 200, 3)
            (p,) = catalog.image_problems
            assert (p.line, p.field, p.severity) == (2, "image", "warning") and "missing.jpg" in p.message
            plain = await catalog.image_for("c", size=(64, 64))
            assert plain.shape == (64, 64, 3) and plain.dtype == np.uint8

    run(main())


# ---- HTTP ---------------------------------------------------------------------------------------------------


class FakeShop:
    """A real aiohttp server on 127.0.0.1 serving a product list, scriptable per test."""

    def __init__(self) -> None:
        self.body = '[{"id": "mug", "name": "Mug", "price": 14.50}]'
        self.content_type = "application/json"
        self.etag: str | None = '"v1"'
        self.status = 200
        self.delay_s = 0.0
        self.requests: list[dict[str, str]] = []
        self.responses: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            status = self.status
            self.responses.append(status)
            return web.Response(status=status, text="boom")
        if self.etag and request.headers.get("If-None-Match") == self.etag:
            self.responses.append(304)
            return web.Response(status=304)
        headers = {"ETag": self.etag} if self.etag else {}
        self.responses.append(200)
        return web.Response(text=self.body, content_type=self.content_type, headers=headers)


async def with_shop(test: Callable[[FakeShop, str], Awaitable[None]], path: str = "/feed") -> None:
    shop = FakeShop()
    app = web.Application()
    app.router.add_get(path, shop.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        await test(shop, f"http://{host}:{port}{path}?token=SECRET")
    finally:
        await runner.cleanup()


@pytest.mark.integration
def test_http_source_uses_etag_and_keeps_products_on_server_errors() -> None:
    async def test(shop: FakeShop, url: str) -> None:
        async with ProductCatalog(url, refresh_s=1, http_timeout_s=2) as catalog:
            update = await catalog.refresh()
            assert update.changed and catalog.ids == ["mug"]
            # nothing changed: the server answers 304 and nothing is parsed
            update = await catalog.refresh()
            assert not update.changed and shop.responses == [200, 304]
            assert shop.requests[1]["If-None-Match"] == '"v1"'
            # a new price with a new ETag
            shop.body, shop.etag = '[{"id": "mug", "name": "Mug", "price": 12.00}]', '"v2"'
            update = await catalog.refresh()
            assert update.changed and update.modified == ("mug",)
            assert catalog.get("mug").price == Decimal("12.00")  # type: ignore[union-attr]
            # the server breaks: products stay, the problem is recorded without the token
            shop.status = 500
            update = await catalog.refresh()
            assert not update.changed and catalog.ids == ["mug"]
            (p,) = catalog.problems
            assert p.is_error and "HTTP 500" in p.message and "keeping the 1 product" in p.message
            assert "SECRET" not in str(p) and "token=****" in p.file
            # it recovers: the problem goes away
            shop.status = 200
            update = await catalog.refresh()
            assert not update.changed and catalog.problems == []

    run(with_shop(test))


@pytest.mark.integration
def test_http_invalid_body_keeps_products_and_timeout_is_a_problem() -> None:
    async def test(shop: FakeShop, url: str) -> None:
        async with ProductCatalog(url, refresh_s=1, http_timeout_s=0.2) as catalog:
            await catalog.refresh()
            shop.body, shop.etag = '[{"id": "mug", "name": "Mug", "price": 14.50}', '"v3"'  # cut off
            update = await catalog.refresh()
            assert not update.changed and catalog.ids == ["mug"]
            assert any("JSON syntax error" in p.message for p in catalog.problems)
            shop.delay_s = 0.5
            update = await catalog.refresh()
            assert catalog.ids == ["mug"] and any("could not fetch" in p.message for p in catalog.problems)

    run(with_shop(test))


@pytest.mark.integration
def test_http_csv_by_content_type_without_etag() -> None:
    async def test(shop: FakeShop, url: str) -> None:
        shop.body = "id,name,price,features\ncup,Cup,4.00,Stackable|Glazed\n"
        shop.content_type, shop.etag = "text/csv", None
        async with ProductCatalog(url, refresh_s=1) as catalog:
            await catalog.refresh()
            assert catalog.products[0].features == ["Stackable", "Glazed"]
            update = await catalog.refresh()
            assert not update.changed and "If-None-Match" not in shop.requests[1]

    run(with_shop(test))


@pytest.mark.integration
def test_http_large_body_arriving_in_chunks_is_read_whole() -> None:
    async def test(shop: FakeShop, url: str) -> None:
        items = [f'{{"id": "p{i}", "name": "Product {i}", "price": {i}.99}}' for i in range(3000)]
        shop.body = "[" + ",\n".join(items) + "]"
        assert len(shop.body) > 150_000
        async with ProductCatalog(url, refresh_s=1) as catalog:
            await catalog.refresh()
            assert catalog.problems == [] and len(catalog) == 3000
            assert catalog.get("p2999").price == Decimal("2999.99")  # type: ignore[union-attr]

    run(with_shop(test))


@pytest.mark.integration
def test_http_images_load_relative_to_the_feed_and_404_gives_a_placeholder() -> None:
    from io import BytesIO

    from PIL import Image

    png = BytesIO()
    Image.new("RGB", (8, 6), (0, 0, 255)).save(png, "PNG")

    async def main() -> None:
        shop = FakeShop()
        shop.body = (
            '[{"id": "a", "name": "Blue", "price": 1, "image": "img/blue.png"},'
            ' {"id": "b", "name": "Gone", "price": 1, "image": "img/gone.png"}]'
        )
        app = web.Application()
        app.router.add_get("/shop/feed.json", shop.handle)

        async def blue_png(request: web.Request) -> web.Response:
            return web.Response(body=png.getvalue(), content_type="image/png")

        app.router.add_get("/shop/img/blue.png", blue_png)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        try:
            async with ProductCatalog(f"http://{host}:{port}/shop/feed.json", refresh_s=1) as catalog:
                await catalog.refresh()
                blue = await catalog.image_for("a")
                assert blue.shape == (6, 8, 3) and tuple(blue[0, 0]) == (255, 0, 0)  # BGR
                gone = await catalog.image_for("b", size=(40, 30))
                assert gone.shape == (30, 40, 3)
                (p,) = catalog.image_problems
                assert "HTTP 404" in p.message and p.field == "image"
        finally:
            await runner.cleanup()

    run(main())
