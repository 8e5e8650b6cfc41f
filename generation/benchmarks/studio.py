"""The real studio in subprocesses: ``manage.py`` commands and Daphne on a free loopback port.

Used by the runs benchmark and by the tests that need a studio of their own (browser tests,
the scaled-out test).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0
LISTEN_BACKLOG = 1024
"""Connections the kernel queues before Daphne accepts them (Twisted's default is 50, which
hundreds of clients connecting at once overflow: their connections are then reset)."""


class StudioStartError(RuntimeError):
    """Daphne exited or did not answer ``/health`` in time; the message carries its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run ``manage.py`` with ``env``; its standard output, or RuntimeError with both outputs."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def process_stop(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _read(log_path: Path) -> str:
    try:
        return log_path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _healthy(process: subprocess.Popen[bytes], base_url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def daphne_start(
    env: dict[str, str],
    log_path: Path,
    *,
    startup_seconds: float = STARTUP_SECONDS,
    attempts: int = 3,
) -> tuple[subprocess.Popen[bytes], str]:
    """Serve the studio (``aura_site.serve``: Daphne on uvloop) on a free port, logging to
    ``log_path``; return the process and its base URL once ``/health`` answers. A port taken
    between choosing and binding it is retried on another."""
    for _attempt in range(attempts):
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aura_site.serve",
                    "-e",
                    f"tcp:port={port}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}",
                    "aura_site.asgi:application",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        if _healthy(process, base_url, startup_seconds):
            return process, base_url
        process_stop(process)
        if "Address already in use" not in _read(log_path):
            break
    raise StudioStartError(f"the studio did not start:\n{_read(log_path)}")
