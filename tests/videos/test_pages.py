"""The videos pages through Django's test client: the model picker grouped by category with the
unconfigured models greyed out and what to configure, the expected cost, starting a job from
the form (and from a roundtable shot), the job page, and who sees what."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from generation.runs.models import Run
from tests.videos.conftest import configure_videos
from videos.models import VideoJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_dir", "fast_polls")]


def page_of(user: Any, path: str, **kw: Any) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(path, **kw)


def test_the_picker_groups_models_and_greys_out_the_unconfigured_ones(
    settings: Any, team: Any
) -> None:
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    response = page_of(team.editor, f"/projects/{team.project.pk}/videos/")
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Custom server", "Premium", "Free models", "Self-hosted"):
        assert label in html
    assert 'data-model="runway" data-configured="false"' in html
    assert 'value="runway" disabled' in html
    assert "RUNWAY_API_KEY" in html and "HF_TOKEN" in html and "SELF_HOSTED_SERVER" in html
    assert 'value="neura" checked' in html
    assert 'data-testid="quote-expected"' in html
    assert 'data-testid="nothing-configured"' not in html


def test_with_nothing_configured_the_page_says_so_before_anything_starts(
    settings: Any, team: Any
) -> None:
    configure_videos(settings)
    html = page_of(team.editor, f"/projects/{team.project.pk}/videos/").content.decode()
    assert 'data-testid="nothing-configured"' in html
    assert 'data-testid="quote-problem"' in html


def test_viewers_see_the_clips_but_no_form_and_outsiders_nothing(settings: Any, team: Any) -> None:
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    html = page_of(team.viewer, f"/projects/{team.project.pk}/videos/").content.decode()
    assert 'id="video-jobs"' in html and 'id="video-form"' not in html
    assert page_of(team.outsider, f"/projects/{team.project.pk}/videos/").status_code == 404
    client = Client()
    client.force_login(team.viewer)
    refused = client.post(
        f"/projects/{team.project.pk}/videos/", {"prompt": "a pier at night", "model": "neura"}
    )
    assert refused.status_code == 403


def test_the_form_starts_a_job_and_shows_its_page(settings: Any, team: Any) -> None:
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    client = Client()
    client.force_login(team.editor)
    response = client.post(
        f"/projects/{team.project.pk}/videos/",
        {
            "prompt": "A pier at night, waves under the lamps",
            "model": "neura",
            "duration_seconds": "4",
            "aspect_ratio": "9:16",
        },
    )
    assert response.status_code == 302
    job = VideoJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    assert job.aspect_ratio == "9:16" and float(job.duration_seconds) == 4.0
    assert Run.objects.get(video_job=job).kind == "video"
    page = client.get(job.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="video-panel"' in html and job.title in html
    assert page_of(team.outsider, job.get_absolute_url()).status_code == 404


def test_a_bad_form_keeps_what_was_typed_and_says_what_is_wrong(settings: Any, team: Any) -> None:
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    client = Client()
    client.force_login(team.editor)
    response = client.post(
        f"/projects/{team.project.pk}/videos/",
        {"prompt": "A pier at night", "model": "neura", "duration_seconds": "60"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error-duration_seconds"' in html
    assert "A pier at night" in html
    assert not VideoJob.objects.exists()


def test_a_roundtable_shot_fills_the_form(settings: Any, team: Any) -> None:
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    html = page_of(
        team.editor,
        f"/projects/{team.project.pk}/videos/",
        query_params={
            "prompt": "Close-up of hands on the ship's wheel",
            "duration_seconds": "3",
            "shot_roundtable": "5",
            "shot_number": "2",
        },
    ).content.decode()
    assert "Close-up of hands on the ship" in html
    assert 'name="duration_seconds" value="3"' in html
    assert 'data-testid="from-shot"' in html


def test_the_project_page_shows_its_clips(settings: Any, team: Any) -> None:
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    VideoJob.objects.create(
        project=team.project, prompt="A gull over the harbour", model="neura", duration_seconds=4
    )
    html = page_of(team.viewer, f"/projects/{team.project.pk}/").content.decode()
    assert 'id="project-videos"' in html and "A gull over the harbour" in html


def test_a_script_section_links_to_a_clip_of_it(team: Any) -> None:
    from generation.scripts.templatetags.scripts_tags import section_clip_url
    from generation.scripts.timing import timing_table

    rows = timing_table("## Hook\nA pilot climbs the ladder at dusk.\n## Close\nHome.", 150)
    url = section_clip_url(team.project.pk, "Harbour pilot", rows[0])
    assert url.startswith(f"/projects/{team.project.pk}/videos/?prompt=Harbour+pilot")
    assert "Hook%3A+A+pilot+climbs+the+ladder+at+dusk." in url
    assert url.endswith(f"duration_seconds={max(1, round(rows[0].seconds))}")
