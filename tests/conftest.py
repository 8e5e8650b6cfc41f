"""Fixtures shared by the whole suite."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The suite shares two cores with itself (browser, fake servers, studio processes): a loop
# running late there says nothing about the studio, so runs are refused for load only in the
# tests of that refusal (tests/runs/test_load.py), which set their own ceiling.
os.environ.setdefault("AURA_RUN_MAX_LOOP_LAG_MS", "5000")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A file SQLite test database (WAL): runs write from their own thread, which an in-memory
    shared-cache database refuses with "table is locked" instead of waiting."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("db") / "test.sqlite3"
        )


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    """The test client speaks plain HTTP to the in-process application."""
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: circuit breakers opened by another test's failing
    providers (and login throttles) do not carry over."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _no_provider_checks(settings: Any) -> None:
    """No provider health listing calls to real providers; a test that wants them turns them
    on against a loopback fake."""
    settings.AURA_PROVIDER_CHECKS = False


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Accounts made by tests hash their passwords cheaply; the hasher is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
async def _close_worker_thread_connections() -> AsyncIterator[None]:
    """Close the database connection of asgiref's worker thread after an async test.

    In async tests, ``sync_to_async`` and ``database_sync_to_async`` run in one long-lived worker
    thread whose connection would otherwise stay open (and keep PostgreSQL from dropping the test
    database at the end of the run).
    """
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture(autouse=True)
def _async_test_hygiene(request: pytest.FixtureRequest) -> None:
    if inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        request.getfixturevalue("_close_worker_thread_connections")


_SEED_MIGRATIONS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("costs", "Price", "generation.costs.migrations.0002_seed_prices", {"unit": "token"}),
    ("scripts", "ScriptTemplate", "generation.scripts.migrations.0002_builtin_templates", {}),
    (
        "costs",
        "Price",
        "videos.migrations.0002_seed_video_prices",
        {"unit__in": ["second", "clip"]},
    ),
)


@pytest.fixture(autouse=True)
def _seeded_data(request: pytest.FixtureRequest) -> None:
    """The rows the data migrations seed (prices, built-in templates), present in every test.

    A transactional test ends by flushing every table, which empties them for the tests after it;
    they are seeded again, the way the migrations do it, where they are missing.
    """
    if request.node.get_closest_marker("django_db") is None:
        return
    from importlib import import_module

    from django.apps import apps

    for label, model_name, module, rows in _SEED_MIGRATIONS:
        if not apps.get_model(label, model_name).objects.filter(**rows).exists():
            import_module(module).seed(apps, None)


@pytest.fixture
async def server_loop() -> AsyncIterator[None]:
    """Inline runs execute on this test's loop, as on Daphne's."""
    from generation.runs import executions, launch

    launch.note_loop()
    yield
    launch.steps_forget()  # a later step of this test's runs never fires in another test
    pending = executions.held_tasks()
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)


@pytest.fixture
def make_user(django_user_model: Any) -> Callable[..., Any]:
    counter = iter(range(1, 1_000_000))

    def make(
        username: str | None = None,
        password: str = "correct horse battery",  # noqa: S107
        **extra: Any,
    ) -> Any:
        name = username or f"user{next(counter)}"
        return django_user_model.objects.create_user(
            username=name, email=f"{name}@example.com", password=password, **extra
        )

    return make


@pytest.fixture
def make_project(make_user: Callable[..., Any]) -> Callable[..., Any]:
    from aura_site.projects.models import Membership, Project, Role

    def make(owner: Any = None, name: str = "Launch film") -> Any:
        owner = owner or make_user()
        project = Project.objects.create(name=name, created_by=owner)
        Membership.objects.create(project=project, user=owner, role=Role.OWNER)
        return project

    return make


@pytest.fixture
def add_member() -> Callable[..., Any]:
    from aura_site.projects.models import Membership

    def add(project: Any, user: Any, role: str) -> Any:
        return Membership.objects.create(project=project, user=user, role=role)

    return add


@pytest.fixture(scope="session")
def services_available() -> Iterator[bool]:
    """Whether PostgreSQL and Redis answer on 127.0.0.1 (required when CI=true)."""
    import socket

    def reachable(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    ok = reachable(5432) and reachable(6379)
    if not ok and os.environ.get("CI") == "true":
        pytest.fail("CI=true but PostgreSQL (5432) or Redis (6379) is not reachable on 127.0.0.1")
    yield ok


@pytest.fixture
def require_services(services_available: bool) -> None:
    if not services_available:
        pytest.skip(
            "PostgreSQL and Redis are not running on 127.0.0.1 (set CI=true to require them)"
        )


@pytest.fixture(autouse=True)
def _logs_kept() -> None:
    """Keep what each test logs for tests/test_secrets.py (after Django set up its logging)."""
    from tests import secrets_watch

    secrets_watch.install()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests of the shared services first (on several workers, the one that takes them
    runs them while the others run the rest), the browser tests last, and the look for secrets
    in the suite's logs after them.

    Playwright's sync API keeps an event loop running in the main thread for as long as its
    session-wide browser lives; async tests and async fixtures cannot start a loop of their own
    beside it, so every other test runs first.
    """
    items.sort(
        key=lambda item: (
            item.get_closest_marker("logs_read") is not None,
            item.get_closest_marker("browser") is not None,
            item.get_closest_marker("services") is None,
        )
    )
    for item in items:
        if item.get_closest_marker("services") is not None:
            # They start, stop and restart the shared PostgreSQL, Redis and RabbitMQ: one
            # worker runs them one after another.
            item.add_marker(pytest.mark.xdist_group("services"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Across workers (pytest-xdist), the look for secrets covers the whole suite's logs: each
    worker hands what it kept to the controller, which fails the session on any leak."""
    from tests import secrets_watch

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["aura_logs"] = secrets_watch.kept()
        return
    if not getattr(session.config, "aura_workers_reported", False):
        return
    leaks = secrets_watch.leaks()
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "secrets found in the suite's logs", red=True)
            for leak in leaks:
                reporter.write_line(leak)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    from tests import secrets_watch

    for text in getattr(node, "workeroutput", {}).get("aura_logs", []):
        secrets_watch.add(text)
    node.config.aura_workers_reported = True
