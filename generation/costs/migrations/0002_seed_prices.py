"""Seed the price table with list prices (USD per 1K tokens) as of 2025; staff edit them in the
admin by adding rows with a later effective_from."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import migrations

EFFECTIVE = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)

OPENAI = [
    ("gpt-4o-mini", "0.00015", "0.0006"),
    ("gpt-4o", "0.0025", "0.01"),
    ("gpt-4.1-mini", "0.0004", "0.0016"),
    ("gpt-4.1-nano", "0.0001", "0.0004"),
    ("gpt-4.1", "0.002", "0.008"),
    ("*", "0.0025", "0.01"),
]

PRICES = [
    ("rulebased", "*", "0", "0"),
    ("ollama", "*", "0", "0"),
    *[("openai", m, i, o) for m, i, o in OPENAI],
    *[("azure", m, i, o) for m, i, o in OPENAI],
    ("anthropic", "claude-sonnet-4-5", "0.003", "0.015"),
    ("anthropic", "claude-sonnet-4", "0.003", "0.015"),
    ("anthropic", "claude-haiku-4-5", "0.001", "0.005"),
    ("anthropic", "claude-3-5-haiku", "0.0008", "0.004"),
    ("anthropic", "claude-opus-4-1", "0.015", "0.075"),
    ("anthropic", "*", "0.003", "0.015"),
    ("gemini", "gemini-2.5-flash", "0.0003", "0.0025"),
    ("gemini", "gemini-2.5-flash-lite", "0.0001", "0.0004"),
    ("gemini", "gemini-2.5-pro", "0.00125", "0.01"),
    ("gemini", "gemini-2.0-flash", "0.0001", "0.0004"),
    ("gemini", "*", "0.00125", "0.01"),
]


def seed(apps, schema_editor):
    Price = apps.get_model("costs", "Price")
    for provider, model, price_in, price_out in PRICES:
        Price.objects.get_or_create(
            provider=provider,
            model=model,
            effective_from=EFFECTIVE,
            defaults={"input_per_1k": Decimal(price_in), "output_per_1k": Decimal(price_out)},
        )


def unseed(apps, schema_editor):
    Price = apps.get_model("costs", "Price")
    Price.objects.filter(effective_from=EFFECTIVE).delete()


class Migration(migrations.Migration):
    dependencies = [("costs", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
