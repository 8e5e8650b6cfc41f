"""No provider key, API token or session id in what the suite logged: the test process's own
records and the logs of every studio process the suite started (tests/secrets_watch.py)."""

from __future__ import annotations

import pytest

from tests import secrets_watch


@pytest.mark.logs_read
def test_no_secret_in_the_suites_logs() -> None:
    if not secrets_watch.records():
        pytest.skip("nothing was logged by the tests selected in this session")
    assert secrets_watch.leaks() == []


def test_the_watch_finds_each_kind_of_secret() -> None:
    token = "aura_0123abcd_" + "x" * 43
    found = secrets_watch.leaks(
        [
            "INFO openai calling with Authorization: Bearer sk-ant-secret-9999",
            f"WARNING api token {token} refused",
            "DEBUG cookie sessionid=abcdefghijklmnopqrstuvwxyz012345",
            "INFO nothing to see",
        ]
    )
    assert len(found) == 3
    assert found[0].startswith("test key 'sk-ant-secret-9999'")
