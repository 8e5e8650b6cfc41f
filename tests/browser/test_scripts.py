"""The script generator in a real browser: the whole form with RuleBased, the script streaming in,
then a hand edit, a comparison and the exports."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

MUST = "Heat the water to 94 degrees"


def test_write_edit_compare_and_export_a_script(
    studio_server: Callable[..., str],
    new_page: Callable[..., Any],
    sign_up: Callable[..., None],
    page_errors: Callable[[Any], list[str]],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    base = studio_server()
    page = new_page()
    sign_up(page, base, "writer")

    page.fill("#dashboard-new-project input[name=name]", "Coffee channel")
    page.click("#dashboard-new-project button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Coffee channel")

    # The project page links to the generator.
    page.click("[data-testid=project-new-script]")
    expect(page.locator("h1")).to_have_text("New script")
    guidance = page.locator("#guidance")
    expect(guidance).to_contain_text("Start with the topic")

    # Guidance as you type: a vague topic, then a good one.
    page.fill("textarea[name=topic]", "video tips")
    expect(guidance).to_contain_text("too vague")
    page.fill("textarea[name=topic]", "How to brew pour-over coffee at home")
    expect(guidance).not_to_contain_text("too vague")
    page.fill("input[name=audience]", "coffee beginners")
    page.fill("input[name=tone]", "friendly")
    page.select_option("select[name=platform]", "tiktok")
    page.fill("input[name=duration_seconds]", "45")
    page.select_option("select[name=delivery]", "energetic")
    expect(page.locator("[data-testid=expected-words]")).to_have_text("128")
    page.select_option("select[name=template]", "tutorial")

    # Key points: add, prioritise, reorder with the buttons, remove.
    points = page.locator("[data-key-point]")
    points.nth(0).locator("[data-kp-text]").fill("Grind the beans just before brewing")
    points.nth(0).locator("[data-kp-priority]").select_option("should")
    page.click("[data-testid=add-key-point]")
    points.nth(1).locator("[data-kp-text]").fill(MUST)
    page.click("[data-testid=add-key-point]")
    points.nth(2).locator("[data-kp-text]").fill("Bloom the coffee for 30 seconds")
    points.nth(2).locator("[data-kp-priority]").select_option("nice")
    page.click("[data-testid=add-key-point]")
    points.nth(3).locator("[data-kp-text]").fill("Heat the water to 94 degrees please")
    expect(points).to_have_count(4)
    expect(guidance).to_contain_text("duplicates key point 2")
    points.nth(3).locator('[data-kp="remove"]').click()
    expect(points).to_have_count(3)
    expect(guidance).not_to_contain_text("duplicates")
    points.nth(1).locator('[data-kp="up"]').click()
    expect(points.nth(0).locator("[data-kp-text]")).to_have_value(MUST)
    expect(points.nth(0).locator("[data-kp-number]")).to_have_text("1.")
    expect(page.locator("label[for=kp-text-1]")).to_have_text("Key point 1")

    # Provider choice: badges, and RuleBased says its output is a template.
    expect(page.locator("[data-testid=provider-openai]")).to_contain_text("not set up")
    expect(page.locator("[data-testid=provider-openai]")).to_contain_text("OPENAI_API_KEY")
    page.locator("[data-testid=provider-rulebased] input").check()
    expect(page.locator("[data-testid=provider-rulebased]")).to_have_class(re.compile("selected"))
    expect(guidance).to_contain_text("Template output (RuleBased, offline)")
    expect(page.locator("input[name=streaming]")).to_be_checked()

    # An error appears in place and keeps what was typed.
    page.fill("input[name=duration_seconds]", "5")
    page.click("[data-testid=start]")
    expect(page.locator("[data-testid=error-duration_seconds]")).to_contain_text("at least 10")
    expect(page.locator("[data-key-point]").nth(0).locator("[data-kp-text]")).to_have_value(MUST)
    page.fill("input[name=duration_seconds]", "45")
    page.click("[data-testid=start]")

    # The script page streams the run, then shows the validated script.
    expect(page.locator("[data-testid=script-title]")).to_contain_text("pour-over")
    # Headings render as the saved view draws them, while the text streams.
    expect(page.locator("[data-testid=run-text] .script-section h3").first).to_contain_text("Hook")
    expect(page.locator("[data-testid=validation]")).to_have_attribute("data-passed", "true")
    expect(page.locator("[data-testid=template-badge]")).to_be_visible()
    expect(page.locator("[data-testid=script-status]")).to_have_text("Ready")
    expect(page.locator("[data-testid=timing] tbody tr")).to_have_count(5)
    text = page.locator("[data-testid=script-text]")
    expect(text).to_contain_text("heat the water to 94 degrees")
    script_url = page.url.split("?")[0]
    assert re.search(r"/projects/\d+/scripts/\d+/$", script_url), script_url

    # Edit by hand: a new version.
    page.click("[data-testid=edit]")
    editor = page.locator("textarea[name=text]")
    original = editor.input_value()
    editor.fill(original.replace("## Hook", "## Hook\n\nMorning, coffee people!", 1))
    page.fill("input[name=note]", "A warmer opening")
    page.click("[data-testid=save-edit]")
    expect(page.locator("[data-testid=script-version]")).to_have_attribute("data-version", "2")
    expect(text).to_contain_text("Morning, coffee people!")
    expect(page.locator("[data-testid=versions] tbody tr")).to_have_count(2)

    # Compare the two versions.
    page.click("[data-testid=compare]")
    expect(page.locator("[data-testid=diff-summary]")).to_contain_text("2 lines added")
    added = page.locator("[data-testid=diff] tr.diff-added")
    expect(added).to_have_count(2)
    expect(added.last).to_contain_text("Morning, coffee people!")

    # Export in each format, from the script page reached by its old address.
    old_url = re.sub(r"/projects/(\d+)/scripts/", r"/scripts/\1/", script_url)
    page.goto(old_url + "?v=2")
    assert page.url == script_url + "?v=2"
    expect(page.locator("[data-testid=script-version]")).to_have_attribute("data-version", "2")
    for fmt in ("md", "txt", "srt"):
        with page.expect_download() as info:
            page.click(f"[data-testid=export-{fmt}]")
        path = tmp_path / f"script.{fmt}"
        info.value.save_as(path)
        content = path.read_text()
        assert info.value.suggested_filename.endswith(f"-v2.{fmt}")
        assert "Morning, coffee people!" in content
        if fmt == "srt":
            assert content.startswith("1\n00:00:00,000 --> ")
        if fmt == "md":
            assert content.startswith("# How to brew pour-over coffee at home")

    # A second script: key points reordered by dragging, streaming off (the whole script at once).
    page.goto(script_url.rsplit("/", 2)[0] + "/new/")
    page.fill("textarea[name=topic]", "Latte art for home baristas")
    page.fill("input[name=duration_seconds]", "30")
    rows = page.locator("[data-key-point]")
    for index, point in enumerate(["Steam the milk", "Pour from high", "Finish close"]):
        if index:
            page.click("[data-testid=add-key-point]")
        rows.nth(index).locator("[data-kp-text]").fill(point)
    rows.nth(2).locator(".drag-handle").drag_to(rows.nth(0), target_position={"x": 20, "y": 2})
    expect(rows.nth(0).locator("[data-kp-text]")).to_have_value("Finish close")
    expect(rows.nth(0).locator("[data-kp-number]")).to_have_text("1.")
    page.locator("[data-testid=provider-rulebased] input").check()
    page.locator("input[name=streaming]").uncheck()
    page.click("[data-testid=start]")
    expect(page.locator("[data-testid=script-title]")).to_contain_text("Latte art")
    expect(page.locator("[data-testid=run-text]")).to_have_count(0)
    expect(page.locator("[data-testid=validation]")).to_have_attribute("data-passed", "true")
    expect(page.locator("[data-testid=script-text]")).to_contain_text("finish close")

    errors = page_errors(page)
    assert not errors, errors
