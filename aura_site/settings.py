"""Aura Studio settings.

Every value comes from the environment through the strict readers in ``aura_site.env``; with no
variable set, the studio runs offline on its embedded defaults (SQLite, an in-memory channel
layer, a local-memory cache, runs executed inside the web process, the RuleBased provider).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from aura_site.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_optional_url,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("AURA_DATA_DIR", str(BASE_DIR / "data")))

DEBUG = env_bool("DJANGO_DEBUG", False)


def _local_secret_key() -> str:
    """A random key kept in the data folder, so a single machine needs no configuration.

    Several processes on one machine share it; several machines must set DJANGO_SECRET_KEY.
    """
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


SECRET_KEY = env_str("DJANGO_SECRET_KEY") or _local_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if "://" not in _origin:
        raise ImproperlyConfigured(
            f"DJANGO_CSRF_TRUSTED_ORIGINS entries need a scheme, like https://{_origin}."
        )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "ninja",
    "aura_site.accounts",
    "aura_site.projects",
    "generation",
    "generation.costs",
    "generation.health",
    "generation.runs",
    "generation.scripts",
    "generation.spend",
    "roundtable",
    "videos",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "aura_site.static_files.StaticFilesMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "aura_site.urls"
WSGI_APPLICATION = "aura_site.wsgi.application"
ASGI_APPLICATION = "aura_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_DEFAULT_DB = f"sqlite:///{DATA_DIR / 'aura.sqlite3'}"
_database_url = env_str("DATABASE_URL", _DEFAULT_DB)
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=0)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL we understand: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_optional_url("REDIS_URL", schemes=("redis", "rediss", "unix"))

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 60},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "aura_site.cache.SharedCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "aura",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "projects:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise serves the files straight from the apps' and the project's static folders, so no
# collectstatic step is needed; it still expects STATIC_ROOT to exist.
WHITENOISE_USE_FINDERS = True
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Security headers. Scripts only from ourselves (htmx is served from django-htmx's static files)
# with a per-request nonce; no inline event handlers, no eval.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "media-src": [CSP.SELF, "blob:"],
    "connect-src": [CSP.SELF, "ws:", "wss:"],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "object-src": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Runs and streaming (../shared/API.md §1).
AURA_RUNNER = env_choice("AURA_RUNNER", "inline", ("inline", "celery"))
AURA_STREAMING_ENABLED = env_bool("AURA_STREAMING_ENABLED", True)
AURA_MAX_CONCURRENT_STREAMS = env_int("AURA_MAX_CONCURRENT_STREAMS", 200, minimum=1)
AURA_MAX_STREAMS_PER_USER = env_int("AURA_MAX_STREAMS_PER_USER", 5, minimum=1)
AURA_STREAM_TIMEOUT_SECONDS = env_float("AURA_STREAM_TIMEOUT_SECONDS", 300, minimum=1)
# A server process whose event loop runs later than this (a measured average) refuses new runs
# with 429 and Retry-After, so that the runs it accepted finish whole.
AURA_RUN_MAX_LOOP_LAG_MS = env_float("AURA_RUN_MAX_LOOP_LAG_MS", 150, minimum=1)
# A process that executes runs hands the GIL between its threads this often (seconds), so the
# database writer's thread never waits long behind the event loop.
AURA_RUN_SWITCH_INTERVAL_SECONDS = env_float(
    "AURA_RUN_SWITCH_INTERVAL_SECONDS", 0.0005, minimum=0.0001
)
# Roundtable time limits: each agent to its first word and for its whole analysis, the
# synthesis, and the whole session.
AURA_ROUNDTABLE_FIRST_TOKEN_SECONDS = env_float(
    "AURA_ROUNDTABLE_FIRST_TOKEN_SECONDS", 30, minimum=1
)
AURA_ROUNDTABLE_AGENT_SECONDS = env_float("AURA_ROUNDTABLE_AGENT_SECONDS", 60, minimum=1)
AURA_ROUNDTABLE_SYNTHESIS_SECONDS = env_float("AURA_ROUNDTABLE_SYNTHESIS_SECONDS", 60, minimum=1)
AURA_ROUNDTABLE_SESSION_SECONDS = env_float("AURA_ROUNDTABLE_SESSION_SECONDS", 180, minimum=1)
AURA_CHAIR_ANSWER_MINUTES = env_float("AURA_CHAIR_ANSWER_MINUTES", 10, minimum=0.01)
AURA_CIRCUIT_FAILURES = env_int("AURA_CIRCUIT_FAILURES", 5, minimum=1)
AURA_CIRCUIT_COOLDOWN_SECONDS = env_float("AURA_CIRCUIT_COOLDOWN_SECONDS", 30, minimum=0)
# How long a call's budget hold lasts when its process dies before the call's cost is recorded.
AURA_BUDGET_HOLD_SECONDS = env_float("AURA_BUDGET_HOLD_SECONDS", 900, minimum=1)
# Budget alerts go out through Django's mailers: the console on the embedded defaults, SMTP
# when AURA_EMAIL_BACKEND names it (with the AURA_EMAIL_* options).
_MAIL_BACKEND = env_str("AURA_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
_MAIL_OPTIONS: dict[str, object] = {}
if _MAIL_BACKEND.endswith("smtp.EmailBackend"):
    _MAIL_OPTIONS = {
        "host": env_str("AURA_EMAIL_HOST", "localhost"),
        "port": env_int("AURA_EMAIL_PORT", 25, minimum=1),
        "username": env_str("AURA_EMAIL_USER", ""),
        "password": env_str("AURA_EMAIL_PASSWORD", ""),
        "use_tls": env_bool("AURA_EMAIL_USE_TLS", False),
    }
MAILERS = {"default": {"BACKEND": _MAIL_BACKEND, "OPTIONS": _MAIL_OPTIONS}}
DEFAULT_FROM_EMAIL = env_str("AURA_EMAIL_FROM", "Aura Studio <studio@localhost>")
# Provider health: the free model-listing call (never a billed one) made for a provider that is
# set up, at most once per interval (never more often than once a minute), to tell
# "unreachable" from "no traffic yet"; each call has the timeout to answer.
AURA_PROVIDER_CHECKS = env_bool("AURA_PROVIDER_CHECKS", True)
AURA_PROVIDER_CHECK_SECONDS = env_float("AURA_PROVIDER_CHECK_SECONDS", 60, minimum=60)
AURA_PROVIDER_CHECK_TIMEOUT_SECONDS = env_float(
    "AURA_PROVIDER_CHECK_TIMEOUT_SECONDS", 3, minimum=0.1
)
AURA_FIELD_ENCRYPTION_KEYS = env_list("AURA_FIELD_ENCRYPTION_KEYS", [])
AURA_AUTO_CHAIN = env_list(
    "AURA_AUTO_CHAIN", ["openai", "anthropic", "gemini", "azure", "ollama", "rulebased"]
)

# LLM providers, chosen by alias like Django's CACHES. OPTIONS come from the environment; keys
# entered by staff in the admin take precedence at call time.
LLM_PROVIDERS: dict[str, dict[str, object]] = {
    "rulebased": {"BACKEND": "generation.providers.rulebased.RuleBasedProvider", "OPTIONS": {}},
    "ollama": {
        "BACKEND": "generation.providers.ollama.OllamaProvider",
        "OPTIONS": {
            "base_url": env_url("OLLAMA_HOST", "http://127.0.0.1:11434"),
            "model": env_str("OLLAMA_MODEL", "llama3.2"),
            # Given by the environment: set up at once; else only once it has answered.
            "explicit": bool(env_str("OLLAMA_HOST") or env_str("OLLAMA_MODEL")),
        },
    },
    "openai": {
        "BACKEND": "generation.providers.openai.OpenAIProvider",
        "OPTIONS": {
            "api_key": env_str("OPENAI_API_KEY"),
            "base_url": env_url("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            "model": env_str("OPENAI_MODEL", "gpt-4o-mini"),
        },
    },
    "azure": {
        "BACKEND": "generation.providers.azure.AzureOpenAIProvider",
        "OPTIONS": {
            "api_key": env_str("AZURE_OPENAI_API_KEY"),
            "endpoint": env_optional_url("AZURE_OPENAI_ENDPOINT") or "",
            "deployment": env_str("AZURE_OPENAI_DEPLOYMENT"),
            "api_version": env_str("AZURE_OPENAI_API_VERSION", "2024-10-21"),
        },
    },
    "anthropic": {
        "BACKEND": "generation.providers.anthropic.AnthropicProvider",
        "OPTIONS": {
            "api_key": env_str("ANTHROPIC_API_KEY"),
            "base_url": env_url("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
            "model": env_str("ANTHROPIC_MODEL", "claude-sonnet-4-5"),
        },
    },
    "gemini": {
        "BACKEND": "generation.providers.gemini.GeminiProvider",
        "OPTIONS": {
            "api_key": env_str("GEMINI_API_KEY"),
            "base_url": env_url("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
            "model": env_str("GEMINI_MODEL", "gemini-2.5-flash"),
        },
    },
}

# Video providers, chosen by alias like LLM_PROVIDERS. ``CATEGORY`` places the provider's models
# in the catalogue (custom, premium, free, self_hosted), which the coordinator's routing follows.
# Keys entered by staff in the admin take precedence at call time.
VIDEO_PROVIDERS: dict[str, dict[str, object]] = {
    "neura": {
        "BACKEND": "videos.providers.neura.NeuraProvider",
        "CATEGORY": "custom",
        "OPTIONS": {
            "base_url": env_optional_url("NEURA_AI_SERVER") or "",
            "api_key": env_str("NEURA_API_KEY"),
        },
    },
    "runway": {
        "BACKEND": "videos.providers.runway.RunwayProvider",
        "CATEGORY": "premium",
        "OPTIONS": {
            "api_key": env_str("RUNWAY_API_KEY"),
            "base_url": env_url("RUNWAY_BASE_URL", "https://api.dev.runwayml.com"),
        },
    },
    "luma": {
        "BACKEND": "videos.providers.luma.LumaProvider",
        "CATEGORY": "premium",
        "OPTIONS": {
            "api_key": env_str("LUMA_API_KEY"),
            "base_url": env_url("LUMA_BASE_URL", "https://api.lumalabs.ai/dream-machine/v1"),
        },
    },
    "huggingface": {
        "BACKEND": "videos.providers.huggingface.HuggingFaceProvider",
        "CATEGORY": "free",
        "OPTIONS": {
            "api_key": env_str("HF_TOKEN"),
            "base_url": env_url("HF_BASE_URL", "https://router.huggingface.co"),
        },
    },
    "self_hosted": {
        "BACKEND": "videos.providers.comfyui.ComfyUIProvider",
        "CATEGORY": "self_hosted",
        "OPTIONS": {"base_url": env_optional_url("SELF_HOSTED_SERVER") or ""},
    },
}
AURA_VIDEO_POLL_SECONDS = env_float("AURA_VIDEO_POLL_SECONDS", 5, minimum=0.05)
"""The first poll of a provider job comes this long after its submit; later polls back off
(times 1.5, up to ``AURA_VIDEO_POLL_MAX_SECONDS``) unless the provider asks for another delay."""
AURA_VIDEO_POLL_MAX_SECONDS = env_float("AURA_VIDEO_POLL_MAX_SECONDS", 20, minimum=0.05)
AURA_VIDEO_JOB_SECONDS = env_float("AURA_VIDEO_JOB_SECONDS", 1800, minimum=1)
"""How long one provider attempt may take, submit to result, before the coordinator moves on."""
AURA_VIDEO_MAX_BYTES = env_int("AURA_VIDEO_MAX_BYTES", 500 * 1024 * 1024, minimum=1024)
AURA_VIDEO_DOWNLOAD_SECONDS = env_float("AURA_VIDEO_DOWNLOAD_SECONDS", 90, minimum=1)
AURA_VIDEO_CHECK_PROCESSES = env_int("AURA_VIDEO_CHECK_PROCESSES", 1, minimum=0)
"""Processes that check downloaded clips (PyAV decodes every frame) beside the worker, so that
checks use another core and never hold up the worker's steps; 0 checks in the worker's own
threads."""
AURA_MEDIA_DIR = Path(env_str("AURA_MEDIA_DIR", str(DATA_DIR / "media")))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(AURA_MEDIA_DIR)},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "videos": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(AURA_MEDIA_DIR / "videos")},
    },
}

# Celery: the broker is Redis when REDIS_URL is set; the embedded default keeps everything in
# memory (only meaningful with AURA_RUNNER=inline, the default).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "aura"
if AURA_RUNNER == "celery" and not REDIS_URL:
    raise ImproperlyConfigured("AURA_RUNNER=celery needs REDIS_URL for the Celery broker.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("AURA_LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
