"""Taskdesk settings: every knob read once, here, from the environment.

Defaults suit the embedded mode (`make run`): SQLite under ./var, the in-memory
channel layer, the built-in Pusher-protocol server. `DJANGO_DEBUG=false` is
production mode, which refuses to start without its secrets.
"""

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if not value:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DJANGO_DEBUG=false (production mode). "
            "Set it to a long random string, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`."
        )
    SECRET_KEY = "taskdesk-embedded-insecure-key-do-not-use-in-production"

PORT = env_int("PORT", 8000)
SITE_URL = env("SITE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
ALLOWED_HOSTS = [h for h in env("ALLOWED_HOSTS", "").split(",") if h] or (
    ["*"] if DEBUG else ["localhost", "127.0.0.1"]
)
CSRF_TRUSTED_ORIGINS = [SITE_URL]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_tasks_db",
    "realtime",
    "accounts",
    "tasks",
    "chat",
    "runs",
    "dashboard",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "config.middleware.OptionalTrailingSlashMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
APPEND_SLASH = False

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under ./var by default, PostgreSQL (or any dj-database-url URL)
# through DATABASE_URL.
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'taskdesk.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A server and a worker write at once: WAL and a busy timeout keep them from
    # failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file too: an in-memory database shares one cache lock and answers
    # "table is locked" at once, where the real file waits out the busy timeout.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_taskdesk.sqlite3")}
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    # A pool per process, not persistent connections: under ASGI a request may run in a
    # thread of its own, and a persistent connection lives and dies with its thread; a
    # burst of 100 channel-auth requests ran PostgreSQL out of connections that way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_SIZE", 10),
        "timeout": 30,  # seconds a request waits for a free connection
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves static files from the apps directly: no collectstatic step and
# no separate web server in the embedded mode (admin, Swagger UI, console).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# The console's browser libraries, installed from dashboard/js/package-lock.json by
# `make run` and `make test` (npm ci), served as /static/vendor/... (no CDN, no build).
CONSOLE_VENDOR_DIR = BASE_DIR / "dashboard" / "js" / "node_modules"
STATICFILES_DIRS = [
    ("vendor/pusher-js", CONSOLE_VENDOR_DIR / "pusher-js" / "dist" / "web"),
]
# Console pages send a signed-out visitor to the sign-in page (the API answers 401).
LOGIN_URL = "console-login"
LOGIN_REDIRECT_URL = "console-home"
LOGOUT_REDIRECT_URL = "console-login"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)

# Redis: the channel layer that lets several server processes share subscribers.
REDIS_URL = env("REDIS_URL")
# A process's hub (realtime.fanout) takes every message of its groups: room for bursts.
# (channels_redis counts a process's own channels against one inbox.)
CHANNEL_CAPACITY = 10_000
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": CHANNEL_CAPACITY},
        }
        if REDIS_URL
        else {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY},
        }
    )
}

# Background jobs: django.tasks, worked by `python manage.py db_worker`.
TASKS = {
    "default": {
        "BACKEND": env("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# Realtime: the built-in Pusher-protocol server by default, Pusher's service when
# PUSHER_URL or PUSHER_APP_ID/KEY/SECRET/CLUSTER are set.
# PUSHER_URL (http[s]://KEY:SECRET@HOST[:PORT]/apps/APP_ID) is parsed here, not by
# `Pusher.from_url`, which mishandles an explicit port; PUSHER_* variables win over it.
_pusher_url = urlsplit(env("PUSHER_URL"))
_pusher_url_app_id = _pusher_url.path.rstrip("/").rsplit("/", 1)[-1] if _pusher_url.path else ""
# The official client accepts only numeric app ids.
PUSHER_APP_ID = env("PUSHER_APP_ID", _pusher_url_app_id or "1")
if not PUSHER_APP_ID.isdigit():
    raise ImproperlyConfigured(f"PUSHER_APP_ID must be a number, not {PUSHER_APP_ID!r}")
PUSHER_KEY = env("PUSHER_KEY", unquote(_pusher_url.username or "") or "taskdesk-key")
PUSHER_SECRET = env(
    "PUSHER_SECRET",
    unquote(_pusher_url.password or "") or ("" if not DEBUG else "taskdesk-embedded-secret"),
)
if not PUSHER_SECRET:
    raise ImproperlyConfigured("PUSHER_SECRET is required when DJANGO_DEBUG=false.")
# A URL naming Pusher's own API host (api-CLUSTER.pusher.com) means that cluster.
_pusher_url_cluster = re.fullmatch(r"api-([a-z0-9]+)\.pusher\.com", _pusher_url.hostname or "")
PUSHER_CLUSTER = env("PUSHER_CLUSTER", _pusher_url_cluster[1] if _pusher_url_cluster else "")
_pusher_url_host = "" if _pusher_url_cluster else _pusher_url.hostname or ""
PUSHER_HOST = env("PUSHER_HOST", _pusher_url_host or ("127.0.0.1" if not PUSHER_CLUSTER else ""))
_pusher_url_ssl = _pusher_url.scheme == "https" if _pusher_url.scheme else bool(PUSHER_CLUSTER)
PUSHER_PORT = env_int(
    "PUSHER_PORT",
    _pusher_url.port or (443 if _pusher_url_ssl else PORT if not _pusher_url.hostname else 80),
)
PUSHER_SSL = env_bool("PUSHER_SSL", _pusher_url_ssl)
REALTIME_PUBLIC_CHANNELS = env_bool("REALTIME_PUBLIC_CHANNELS", False)
# Where committed events go: `pusher` (the official client, to PUSHER_HOST or Pusher's
# service), `none` (nowhere), or the dotted path of a publisher class (tests/settings.py
# records with one).
REALTIME_PUBLISHER = env("REALTIME_PUBLISHER", "pusher")
if REALTIME_PUBLISHER not in ("pusher", "none") and "." not in REALTIME_PUBLISHER:
    raise ImproperlyConfigured(
        "REALTIME_PUBLISHER must be pusher, none or the dotted path of a publisher class, "
        f"not {REALTIME_PUBLISHER!r}"
    )

# Execution and logs.
TASK_LOGS_ENABLED = env_bool("TASK_LOGS_ENABLED", True)
STALE_RUN_SECONDS = env_int("STALE_RUN_SECONDS", 1800)
RETRY_STALE_RUNS = env_bool("RETRY_STALE_RUNS", False)
TASK_LOG_MAX_LINES = env_int("TASK_LOG_MAX_LINES", 20000)  # per run, then one truncation line
TASK_LOG_MAX_BYTES = env_int("TASK_LOG_MAX_BYTES", 5 * 1024 * 1024)
RUN_HEARTBEAT_SECONDS = env_int("RUN_HEARTBEAT_SECONDS", 5)
RUN_HALT_GRACE_SECONDS = env_int("RUN_HALT_GRACE_SECONDS", 10)  # SIGTERM, then SIGKILL
RUN_TIME_LIMIT_SECONDS = env_int("RUN_TIME_LIMIT_SECONDS", 3600)  # command runs
REAPER_INTERVAL_SECONDS = env_int("REAPER_INTERVAL_SECONDS", 60)
LOG_STREAM_KEEPALIVE_SECONDS = env_int("LOG_STREAM_KEEPALIVE_SECONDS", 25)
# The SSE stream's database read when the channel layer cannot carry the worker's lines
# (in-memory layer, i.e. no REDIS_URL): every second; with Redis, a slow safety net.
LOG_STREAM_POLL_SECONDS = float(env("LOG_STREAM_POLL_SECONDS", "1" if not REDIS_URL else "10"))
# The `openai` runner's defaults; a robot's config overrides them.
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_MODEL = env("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_API_KEY = env("OPENAI_API_KEY")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["config.renderers.CamelCaseJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "djangorestframework_camel_case.parser.CamelCaseJSONParser",
        "djangorestframework_camel_case.parser.CamelCaseFormParser",
        "djangorestframework_camel_case.parser.CamelCaseMultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", "600/min"),
        "user": env("THROTTLE_USER", "100000/min"),
    },
    "EXCEPTION_HANDLER": "config.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

JSON_CAMEL_CASE = {
    "JSON_UNDERSCOREIZE": {
        "no_underscore_before_number": True,
        # User JSON is kept verbatim; `_count` is the mobile clients' own key.
        "ignore_fields": ("content", "config", "features"),
        "ignore_keys": ("_count",),
    }
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Taskdesk API",
    "DESCRIPTION": "Tasks, task groups, chat, runs, logs and live events for AI coding agents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "CAMELIZE_NAMES": False,
    # Enums whose field names repeat across apps (`role`, `type`, `status`) get fixed names.
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks.models.TaskStatus",
        "WorkflowStatusEnum": "tasks.models.WorkflowStatus",
        "WorkspaceRoleEnum": "accounts.models.Role",
        "ChatRoleEnum": "chat.models.ChatRole",
        "ChatStatusEnum": "chat.models.ChatStatus",
        "ArtifactTypeEnum": "chat.models.ArtifactType",
        "ContextTagTypeEnum": "chat.models.ContextTagType",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "drf_spectacular.contrib.djangorestframework_camel_case.camelize_serializer_fields",
    ],
    "AUTHENTICATION_WHITELIST": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

# Caches: local memory (throttling, token last-used stamps); Redis when configured.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", SITE_URL.startswith("https"))
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
