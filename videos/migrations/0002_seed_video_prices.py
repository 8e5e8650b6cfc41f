"""Seed the price table with video prices (USD per second of video, or per clip), keyed by the
provider's alias and the provider-side model id; staff edit them in the admin by adding rows
with a later effective_from.

Runway: credits per second at $0.01 a credit (Runway's API reference). Luma: estimates at the
adapter's default 720p (Luma publishes no per-second table). Hugging Face: fal's list prices
per clip where published, else the nearest published one. The studio's own server and a
self-hosted ComfyUI cost nothing per clip.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import migrations

EFFECTIVE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

PRICES = [
    ("runway", "gen4.5", "second", "0.12"),
    ("runway", "gen4_turbo", "second", "0.05"),
    ("runway", "veo3.1", "second", "0.40"),
    ("runway", "veo3.1_fast", "second", "0.15"),
    ("runway", "veo3", "second", "0.40"),
    ("luma", "ray-2", "second", "0.20"),
    ("luma", "ray-flash-2", "second", "0.08"),
    ("huggingface", "tencent/HunyuanVideo", "clip", "0.40"),
    ("huggingface", "zai-org/CogVideoX-5b", "clip", "0.20"),
    ("huggingface", "Lightricks/LTX-Video", "clip", "0.20"),
    ("neura", "*", "clip", "0"),
    ("self_hosted", "*", "clip", "0"),
]


def seed(apps, schema_editor):
    Price = apps.get_model("costs", "Price")
    for provider, model, unit, amount in PRICES:
        Price.objects.get_or_create(
            provider=provider,
            model=model,
            effective_from=EFFECTIVE,
            defaults={"unit": unit, "amount": Decimal(amount)},
        )


def unseed(apps, schema_editor):
    Price = apps.get_model("costs", "Price")
    for provider, model, _unit, _amount in PRICES:
        Price.objects.filter(provider=provider, model=model, effective_from=EFFECTIVE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("videos", "0001_video_jobs"),
        ("costs", "0005_cost_record_parts"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
