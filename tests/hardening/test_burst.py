"""Login throttling and the per-user run limit under a burst: many requests at once against one
real Daphne studio (its request threads check them concurrently), never one after another.

- a burst of wrong passwords for one account gets exactly the account's limit of checks; the rest,
  and then the right password, are refused with 429, ``Retry-After`` and the form's message;
- a burst of wrong passwords across many accounts from one address gets the address's limit;
- a burst of bad API tokens ends in 429 with ``Retry-After`` for that address, good token or not;
- a burst of script starts from one user beyond ``AURA_MAX_STREAMS_PER_USER`` starts exactly the
  limit's worth of runs; every other start is a 429 ``user_stream_limit`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from aura_site.accounts import throttle
from generation.benchmarks.fake_table import FakeTableProcess
from generation.benchmarks.runs import PASSWORD, Studio

pytestmark = [
    pytest.mark.timeout(300),
    # One worker, in order, on one studio: the address test counts the account test's failures.
    pytest.mark.xdist_group("burst"),
]

PER_USER = 3
BURST = 30


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A studio whose model answers slowly (so runs stay active through a burst), with a few
    extra accounts."""
    with FakeTableProcess(tokens=400, tokens_per_second=5) as fake:
        served = Studio(tmp_path_factory.mktemp("burst"), fake, 100)
        served.env.update(
            DJANGO_SETTINGS_MODULE="aura_site.settings",
            AURA_MAX_STREAMS_PER_USER=str(PER_USER),
        )
        project_id, token = served.prepare(extra_users=tuple(f"victim{n}" for n in range(3)))
        served.start()
        try:
            yield SimpleNamespace(
                base_url=served.base_url,
                project_id=project_id,
                token=token,
                db_path=served.db_path,
            )
        finally:
            served.stop()


async def _login_burst(base_url: str, attempts: list[tuple[str, str]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        page = await client.get("/accounts/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match is not None
        headers = {"Referer": f"{base_url}/accounts/login/"}

        async def post(username: str, password: str) -> httpx.Response:
            data = {"username": username, "password": password}
            data["csrfmiddlewaretoken"] = match.group(1)
            return await client.post("/accounts/login/", data=data, headers=headers)

        return list(await asyncio.gather(*(post(u, p) for u, p in attempts)))


def test_a_burst_of_wrong_passwords_for_one_account_gets_exactly_its_limit_of_checks(
    studio: SimpleNamespace,
) -> None:
    responses = asyncio.run(
        _login_burst(studio.base_url, [("victim0", "not-the-password")] * BURST)
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: throttle.LOGIN_FAILURES_PER_ACCOUNT, 429: BURST - 5}, statuses
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) > 0
            assert "Too many failed attempts" in response.text
        else:
            assert "Too many failed attempts" not in response.text
    [right] = asyncio.run(_login_burst(studio.base_url, [("victim0", PASSWORD)]))
    assert right.status_code == 429 and "sessionid" not in right.cookies
    assert "Too many failed attempts" in right.text


def test_a_burst_across_accounts_from_one_address_gets_the_address_limit(
    studio: SimpleNamespace,
) -> None:
    """Run after the test above, whose five failures were counted against this address too."""
    spent = throttle.LOGIN_FAILURES_PER_ACCOUNT
    attempts = [(f"sprayed{n}", "Summer2026!") for n in range(BURST)]
    responses = asyncio.run(_login_burst(studio.base_url, attempts))

    statuses = Counter(response.status_code for response in responses)
    checked = throttle.LOGIN_FAILURES_PER_ADDRESS - spent
    assert statuses == {200: checked, 429: BURST - checked}, statuses
    [other] = asyncio.run(_login_burst(studio.base_url, [("victim1", PASSWORD)]))
    assert other.status_code == 429 and int(other.headers["Retry-After"]) > 0


async def _start_burst(studio: SimpleNamespace, count: int) -> list[tuple[int, str, str]]:
    """``count`` script starts at once; each 200 start is read up to its ``run`` event."""
    async with httpx.AsyncClient(
        base_url=studio.base_url,
        headers={"Authorization": f"Bearer {studio.token}"},
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        timeout=120,
    ) as client:
        body = {
            "project": studio.project_id,
            "topic": "A harbour pilot guiding a ship in at dusk",
            "duration_seconds": 60,
            "provider": "openai",
        }

        async def start() -> tuple[int, str, str]:
            async with client.stream("POST", "/api/v1/scripts/stream", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    return (
                        response.status_code,
                        response.headers.get("Retry-After", ""),
                        (response.json()["error"]["code"]),
                    )
                async for line in response.aiter_lines():
                    if line.startswith("data:") and '"run_id"' in line:
                        run_id = re.search(r'"run_id": ?"([^"]+)"', line)
                        assert run_id is not None
                        return 200, "", run_id.group(1)
                return 200, "", ""

        return list(await asyncio.gather(*(start() for _ in range(count))))


def test_a_burst_of_run_starts_beyond_the_user_limit_starts_nothing_extra(
    studio: SimpleNamespace,
) -> None:
    results = asyncio.run(_start_burst(studio, 20))

    accepted = [run_id for status, _, run_id in results if status == 200]
    refused = [(status, retry, code) for status, retry, code in results if status != 200]
    assert len(accepted) == PER_USER and all(accepted), results
    assert len(refused) == 20 - PER_USER
    assert all(status == 429 for status, _, _ in refused), refused
    assert all(int(retry) > 0 for _, retry, _ in refused), refused
    assert {code for _, _, code in refused} == {"user_stream_limit"}
    with sqlite3.connect(Path(studio.db_path)) as db:
        stored = [row[0] for row in db.execute("SELECT id FROM runs_run")]
    assert len(stored) == PER_USER


async def _api_burst(base_url: str, tokens: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        return list(
            await asyncio.gather(
                *(
                    client.get("/api/v1/projects", headers={"Authorization": f"Bearer {t}"})
                    for t in tokens
                )
            )
        )


def test_a_burst_of_bad_api_tokens_ends_in_429_with_retry_after(studio: SimpleNamespace) -> None:
    good = asyncio.run(_api_burst(studio.base_url, [studio.token] * 40))
    assert {response.status_code for response in good} == {200}

    bad = asyncio.run(_api_burst(studio.base_url, [f"aura_guess{n:04d}_x" for n in range(60)]))

    statuses = Counter(response.status_code for response in bad)
    assert set(statuses) <= {401, 429} and statuses[429] > 0, statuses
    assert statuses[401] >= throttle.TOKEN_FAILURES_PER_ADDRESS
    for response in bad:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["error"]["code"] == "rate_limited"
    [after] = asyncio.run(_api_burst(studio.base_url, [studio.token]))
    assert after.status_code == 429 and int(after.headers["Retry-After"]) > 0
