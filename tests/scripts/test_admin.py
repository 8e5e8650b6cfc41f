"""Staff add and edit script templates in the admin; the sections are checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from generation.scripts.models import ScriptTemplate

pytestmark = pytest.mark.django_db


def sections(*shares: float) -> str:
    return json.dumps(
        [{"key": f"s{i}", "title": f"Part {i}", "share": share} for i, share in enumerate(shares)]
    )


def test_staff_add_a_template_only_when_the_shares_sum_to_one(make_user: Any) -> None:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    url = "/admin/scripts/scripttemplate/add/"
    assert client.get(url).status_code == 200
    data = {"slug": "interview", "name": "Interview", "description": "", "built_in": ""}

    wrong = client.post(url, {**data, "sections": sections(0.5, 0.4)})
    assert wrong.status_code == 200
    assert "Section shares must sum to 1 (they sum to 0.900)." in wrong.content.decode()
    broken = client.post(url, {**data, "sections": '[{"key": "a", "title": "A"}]'})
    assert "needs a share between 0 and 1" in broken.content.decode()
    assert not ScriptTemplate.objects.filter(slug="interview").exists()

    right = client.post(url, {**data, "sections": sections(0.2, 0.5, 0.3)})
    assert right.status_code == 302
    template = ScriptTemplate.objects.get(slug="interview")
    assert [s["share"] for s in template.sections] == [0.2, 0.5, 0.3]


def test_the_six_built_in_templates_are_seeded() -> None:
    built_in = ScriptTemplate.objects.filter(built_in=True)
    assert set(built_in.values_list("slug", flat=True)) >= {
        "tutorial",
        "listicle",
        "story",
        "product-review",
        "explainer",
        "news-update",
    }
    for template in built_in:
        assert abs(sum(s["share"] for s in template.sections) - 1) < 1e-9
        assert template.sections[0]["key"] == "hook" and template.sections[-1]["key"] == "cta"
