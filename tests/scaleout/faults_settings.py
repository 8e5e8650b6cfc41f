"""The scale-out settings, with the OpenAI adapter's read time-outs taken from the environment
(``FAULTS_FIRST_TOKEN_TIMEOUT``, ``FAULTS_STALL_TIMEOUT``) for the fault tests: a provider that
hangs or stalls is given up on within seconds."""

from __future__ import annotations

import os

from tests.scaleout.settings import *  # noqa: F403

for _name, _option in (
    ("FAULTS_FIRST_TOKEN_TIMEOUT", "first_token_timeout"),
    ("FAULTS_STALL_TIMEOUT", "stall_timeout"),
):
    if os.environ.get(_name):
        LLM_PROVIDERS["openai"]["OPTIONS"][_option] = float(os.environ[_name])  # type: ignore[index]  # noqa: F405
