"""The brain as the show uses it: whichever backend writes a sentence, the guards decide whether it is spoken."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from streamer.bench.fake_llm import FakeLlm, fast, slow
from streamer.brain.base import Beat, BrainRequest
from streamer.brain.factory import build_brain
from streamer.config import BrainSettings, LlmSettings, Persona, ProductSheet

PERSONA = Persona.model_validate({"name": "Joe"})
MUG = ProductSheet(
    id="mug",
    name="Stoneware Mug",
    price=Decimal("14.50"),
    list_price=Decimal("18"),
    stock=40,
    features=["Holds 350 ml"],
    shipping="Ships in 2 business days",
)


def collect(kit, request: BrainRequest) -> list[str]:
    async def go() -> list[str]:
        try:
            return [s async for s in kit.stream(request)]
        finally:
            await kit.aclose()

    return asyncio.run(go())


def llm_kit(fake: FakeLlm):
    return build_brain(
        BrainSettings(
            backend="llm",
            llm=LlmSettings(base_url=fake.base_url, model="m", api_key_env=None, first_sentence_timeout_s=1.0),
        ),
        PERSONA,
    )


@pytest.mark.integration
def test_an_invented_price_from_the_llm_never_reaches_the_voice():
    async def go() -> tuple[list[str], dict[str, int]]:
        async with FakeLlm([fast("This mug is lovely. Today it's only $5! It holds 350 ml.")]) as fake:
            kit = llm_kit(fake)
            out = [
                s
                async for s in kit.stream(
                    BrainRequest(persona=PERSONA, beat=Beat("section", MUG, "price"), products=[MUG])
                )
            ]
            await kit.aclose()
            return out, dict(kit.guard.counts)

    spoken, counts = asyncio.run(go())
    assert "This mug is lovely." in spoken and "It holds 350 ml." in spoken
    assert not any("$5" in s for s in spoken)
    assert counts["fact"] == 1


@pytest.mark.integration
def test_a_slow_llm_falls_back_to_the_offline_answer_within_the_deadline():
    async def go() -> tuple[list[str], float]:
        async with FakeLlm([slow()]) as fake:
            kit = llm_kit(fake)
            kit.offline.prepare([MUG])
            t = time.monotonic()
            first_at = None
            out = []
            async for s in kit.stream(
                BrainRequest(persona=PERSONA, question="How much is the mug?", product=MUG, products=[MUG])
            ):
                first_at = first_at or time.monotonic() - t
                out.append(s)
            await kit.aclose()
            return out, first_at or 99.0

    spoken, first_s = asyncio.run(go())
    assert first_s < 1.6
    assert any("14 dollars 50" in s for s in spoken)


@pytest.mark.integration
def test_offline_brain_answers_with_sheet_facts_through_the_guards():
    kit = build_brain(BrainSettings(), PERSONA)
    kit.offline.prepare([MUG])
    spoken = collect(kit, BrainRequest(persona=PERSONA, question="when will it ship?", product=MUG, products=[MUG]))
    assert any("2 business days" in s for s in spoken)


def test_a_compound_word_opening_the_answer_is_lower_cased_after_the_name() -> None:
    from streamer.brain.factory import address_into

    assert address_into("Hi Leo!", "Non-slip waterproof base.", "Leo", "en") == "Leo, non-slip waterproof base."
    assert address_into("Hi Leo!", "Coca-Cola flavour.", "Leo", "en") == "Leo, Coca-Cola flavour."  # a brand
    assert address_into("Hi Leo!", "Moon Night Light is here.", "Leo", "en") == "Leo, Moon Night Light is here."
