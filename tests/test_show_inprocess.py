"""The wired show, in process, with the silent voice: catalog hot reload reaches the card and the patter."""

from __future__ import annotations

import asyncio
import shutil
import time
from decimal import Decimal
from pathlib import Path

import pytest

from streamer.app import Channel, ChannelSpec
from streamer.config import Persona, StreamConfig
from streamer.publish.sinks import parse_target

from .conftest import REPO

#: Long enough for the rewritten price sentence to be heard in full: patter synthesis waits while torch is imported
#: (about 6 s on this machine), and the silent voice's sentence lasts several seconds.
SECONDS = 18


@pytest.mark.integration
def test_a_changed_price_reaches_the_card_and_the_patter_without_a_restart(tmp_path: Path):
    products = tmp_path / "products"
    products.mkdir()
    shutil.copy(REPO / "products/coffee-beans.yaml", products)
    sheet = products / "coffee-beans.yaml"
    original = sheet.read_text()
    assert "price: 24.99\n" in original
    config = StreamConfig.model_validate(
        {
            "video": {"width": 640, "height": 360},
            "preview": {"enabled": False},
            "show": {"products_refresh_s": 1.0, "seed": 3},
        }
    )
    persona = Persona.model_validate(
        {
            "name": "Quiet",
            "voice": {"backend": "silence"},
            "patter": {"sections": ["price"], "pause_between_sentences_ms": 0},
        }
    )
    show = Channel(
        ChannelSpec(
            config=config,
            persona=persona,
            products=str(products),
            outputs=[parse_target(str(tmp_path / "out.flv"))],
            duration_s=SECONDS,
        )
    )

    async def main() -> int:
        task = asyncio.create_task(show.run())
        deadline = time.monotonic() + 6
        while (show.scene is None or show.scene.shown_product is None) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert show.scene is not None and show.scene.shown_product is not None
        assert show.scene.shown_product.price == Decimal("24.99")
        sheet.write_text(original.replace("price: 24.99\n", "price: 21.75\n"))
        while show.scene.shown_product.price != Decimal("21.75") and time.monotonic() < deadline + 3:
            await asyncio.sleep(0.05)
        return await task

    assert asyncio.run(main()) == 0
    assert show.scene is not None and show.scene.shown_product is not None
    assert show.scene.shown_product.price == Decimal("21.75")
    spoken = " ".join(h.text for h in show.spoken)
    assert "21 dollars 75" in spoken
    assert show.media is not None and show.media.frames == SECONDS * 30
