"""The ledger by run part: records of tokens, seconds of video and clips, what a record of each
unit must hold, exact sums per part and per run, and the admin's read-only view of it."""

from __future__ import annotations

import asyncio
import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from generation.chain.fallback import Ledger, stream_with_fallback
from generation.costs.models import CostRecord, Price
from generation.costs.services import (
    cost_record_create,
    ledger_total,
    run_cost_total,
    run_costs_by_part,
)
from generation.providers.base import CompletionRequest
from generation.providers.rulebased import RuleBasedProvider

EARLIER = datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC)

# The sums are SQL: tests/test_services.py runs these again on PostgreSQL.
pytestmark = pytest.mark.integration


@pytest.fixture
def video_prices() -> None:
    Price.objects.create(
        provider="gemini",
        model="veo-3",
        unit="second",
        amount=Decimal("0.75"),
        effective_from=EARLIER,
    )
    Price.objects.create(
        provider="pika", model="*", unit="clip", amount=Decimal("1.25"), effective_from=EARLIER
    )


def record(**fields: Any) -> CostRecord:
    fields.setdefault("provider", "openai")
    fields.setdefault("model", "gpt-4o-mini")
    fields.setdefault("outcome", "succeeded")
    return cost_record_create(**fields)


# Records of each unit --------------------------------------------------------------------------


@pytest.mark.django_db
def test_records_carry_their_part_unit_and_quantity(video_prices):
    shot = record(
        provider="gemini", model="veo-3", unit="second", quantity=Decimal("8"), part="shot-1"
    )
    clips = record(
        provider="pika", model="gen4_turbo", unit="clip", quantity=Decimal(2), part="shot-2"
    )
    director = record(input_tokens=1000, output_tokens=1000, reported=True, part="director")

    stored = {r.part: r for r in CostRecord.objects.all()}
    assert (stored["shot-1"].unit, stored["shot-1"].quantity) == ("second", Decimal("8"))
    assert stored["shot-1"].cost == shot.cost == Decimal("6.00000000")
    assert (stored["shot-1"].input_tokens, stored["shot-1"].output_tokens) == (0, 0)
    assert (stored["shot-2"].unit, stored["shot-2"].quantity) == ("clip", Decimal(2))
    assert stored["shot-2"].cost == clips.cost == Decimal("2.50000000")
    assert (stored["director"].unit, stored["director"].quantity) == ("token", None)
    assert stored["director"].cost == director.cost == Decimal("0.00075000")
    assert str(stored["director"]) == "openai/gpt-4o-mini [director] 0.00075000 USD (succeeded)"
    assert record().part == ""


@pytest.mark.django_db
def test_a_quantity_is_priced_in_its_own_unit(video_prices):
    half = record(provider="gemini", model="veo-3", unit="second", quantity=Decimal("0.5"))
    assert half.cost == Decimal("0.37500000")
    # Priced per second, not per clip; and gemini's * is a token price, no price of seconds.
    assert record(provider="gemini", model="veo-3", unit="clip", quantity=Decimal(1)).cost == 0
    assert record(provider="gemini", model="veo-4", unit="second", quantity=Decimal(8)).cost == 0
    given = record(
        provider="gemini", model="veo-3", unit="second", quantity=Decimal(8), cost=Decimal("5")
    )
    assert given.cost == Decimal("5")  # the provider's own bill wins over the list price


@pytest.mark.django_db
def test_each_unit_has_its_own_counts():
    with pytest.raises(ValueError, match="a token record counts tokens: it has no quantity"):
        record(quantity=Decimal(1))
    with pytest.raises(ValueError, match="a per-second record needs its quantity"):
        record(provider="gemini", model="veo-3", unit="second")
    with pytest.raises(ValueError, match="unknown unit 'minute'"):
        record(unit="minute", quantity=Decimal(1))
    with pytest.raises(ValueError, match="never negative"):
        record(provider="gemini", model="veo-3", unit="clip", quantity=Decimal(-1))
    assert not CostRecord.objects.exists()

    wrong: list[dict[str, Any]] = [
        {"unit": "second"},
        {"unit": "clip", "quantity": Decimal("-1")},
        {"unit": "token", "quantity": Decimal(1)},
        {"unit": "minute", "quantity": Decimal(1)},
    ]
    for fields in wrong:
        with pytest.raises(IntegrityError), transaction.atomic():
            CostRecord.objects.create(provider="x", outcome="succeeded", **fields)
    assert not CostRecord.objects.exists()


# Sums --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_costs_by_part_are_exact_to_the_last_place():
    amounts = {
        "main": ["0.1", "0.2", "0.00000001"],  # 0.1 + 0.2 is 0.30000000000000004 in floats
        "director": ["0.33333333"] * 3,
        "writer": ["0.00000001"] * 1500 + ["0.00000003"] * 700,
        "shot-1": ["999999.99999999"] * 11,
        "": ["0.00000007"],
    }
    records = []
    for part, costs in amounts.items():
        for cost in costs:
            records.append(
                CostRecord(
                    provider="openai", run_id="run-1", part=part, cost=Decimal(cost), outcome="ok"
                )
            )
    CostRecord.objects.bulk_create(records)
    CostRecord.objects.bulk_create(
        CostRecord(provider="openai", run_id=other, part="main", cost=Decimal("1"), outcome="ok")
        for other in ("run-2", "run-10", "run-1 ")
    )

    by_part = run_costs_by_part("run-1")
    assert by_part == {
        "main": Decimal("0.30000001"),
        "director": Decimal("0.99999999"),
        "writer": Decimal("0.00003600"),
        "shot-1": Decimal("10999999.99999989"),
        "": Decimal("0.00000007"),
    }
    assert list(by_part) == ["main", "director", "writer", "shot-1", ""]  # as first spent
    assert all(isinstance(cost, Decimal) for cost in by_part.values())
    for part, costs in amounts.items():
        assert by_part[part] == sum(Decimal(cost) for cost in costs)
    total = run_cost_total("run-1")
    assert total == sum(by_part.values()) == Decimal("11000001.30003596")
    assert ledger_total(CostRecord.objects.filter(part="main")) == Decimal("3.30000001")
    assert run_costs_by_part("run-3") == {}
    assert run_cost_total("run-3") == Decimal(0)


@pytest.mark.django_db(transaction=True)
async def test_the_chain_records_the_ledger_s_part():
    stream = stream_with_fallback(
        ["rulebased"],
        CompletionRequest.from_prompt("Write a hook about coffee.", max_tokens=100),
        providers={"rulebased": RuleBasedProvider("rulebased", {"pace_ms": 0})},
        ledger=Ledger(run_id="run-parts", part="director"),
    )
    async with stream:
        async for _event in stream:
            pass
    assert await asyncio.to_thread(run_costs_by_part, "run-parts") == {"director": Decimal(0)}
    stored = await asyncio.to_thread(CostRecord.objects.get, run_id="run-parts")
    assert (stored.part, stored.unit, stored.quantity) == ("director", "token", None)


# The admin ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_shows_part_unit_and_quantity_read_only(video_prices, make_user):
    shot = record(
        provider="gemini",
        model="veo-3",
        unit="second",
        quantity=Decimal("8"),
        part="shot-1",
        run_id="run-7",
    )
    record(input_tokens=10, output_tokens=5, part="director", run_id="run-7")
    web = Client()
    web.force_login(make_user(is_staff=True, is_superuser=True))

    page = web.get("/admin/costs/costrecord/").content.decode()
    for header in ("Part", "Unit", "Quantity"):
        assert f">{header}</a>" in page
    assert "Seconds of video" in page
    assert "shot-1" in page
    assert "director" in page
    seconds = web.get("/admin/costs/costrecord/?unit__exact=second").content.decode()
    assert "shot-1" in seconds
    assert "director" not in seconds
    assert "total 6.00000000 USD over 1 records" in seconds
    assert "shot-1" in web.get("/admin/costs/costrecord/?q=shot-1").content.decode()

    change = f"/admin/costs/costrecord/{shot.pk}/change/"
    assert web.get("/admin/costs/costrecord/add/").status_code == 403
    assert web.post(change, {"part": "main", "quantity": "1"}).status_code == 403
    stored = CostRecord.objects.get(pk=shot.pk)
    assert (stored.part, stored.quantity) == ("shot-1", Decimal("8"))
