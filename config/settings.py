"""Taskdesk settings: every knob read once, here, from the environment.

Defaults suit the embedded mode (`make run`): SQLite under ./var, the in-memory
channel layer, the built-in Pusher-protocol server. `DJANGO_DEBUG=false` is
production mode, which refuses to start without its secrets.
"""

import os
import re
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

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


def env_float(name: str, default: float) -> float:
    value = env(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def installation_secret(name: str) -> str:
    """A random secret generated once per installation, kept in var/NAME (mode 0600).
    Made in a temporary file and linked into place, so two processes starting at once
    agree on one value and neither reads a half-written file."""
    path = VAR_DIR / name
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    temporary = VAR_DIR / f".{name}.{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process made it first: its value wins
    finally:
        temporary.unlink()
    return path.read_text().strip()


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
# The hosts this server answers for, in debug mode too: the loopback names and the
# host of SITE_URL unless ALLOWED_HOSTS lists them (a DNS-rebinding page then gets 400).
ALLOWED_HOSTS = [h for h in env("ALLOWED_HOSTS", "").split(",") if h] or list(
    dict.fromkeys(["localhost", "127.0.0.1", "[::1]", urlsplit(SITE_URL).hostname or ""])
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
    "axes",
    "channels",
    "realtime",
    "accounts",
    "tasks",
    "chat",
    "runs",
    "integrations",
    "dashboard",
    "ops",
    # After the apps: runs' `db_worker` command (a worker that outlives a database outage)
    # shadows this package's own.
    "django_tasks_db",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "config.middleware.RequestMetricsMiddleware",
    "config.middleware.OptionalTrailingSlashMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as its documentation asks: locks out a username + IP after failed sign-ins.
    "axes.middleware.AxesMiddleware",
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
                "django.template.context_processors.csp",
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
    # A covering index's INCLUDE columns serve PostgreSQL's index-only scans; SQLite
    # builds the same index on its key columns alone, which is all it needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    from config.dbpool import check_pooled_connection

    # A pool per process, not persistent connections: under ASGI a request may run in a
    # thread of its own, and a persistent connection lives and dies with its thread; a
    # burst of 100 channel-auth requests ran PostgreSQL out of connections that way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_SIZE", 10),
        "timeout": 30,  # seconds a request waits for a free connection
        # A pooled connection is checked (one round trip) before it is lent: after
        # PostgreSQL restarted or dropped the server's connections, each dead connection
        # in the pool otherwise failed one later request with a 500 (config.dbpool).
        "check": check_pooled_connection,
    }
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        # Values travel as parameters and a statement run five times on a connection is
        # prepared: PostgreSQL stops parsing and planning it again. A worker's run is
        # ~21 statements of a few shapes (~35 when it was measured: the bench's PostgreSQL
        # CPU fell by a sixth).
        # Off behind a pooler that cannot keep prepared statements (PgBouncer < 1.21 in
        # transaction mode).
        DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
        # A prepared statement is planned with each run's values, never once for any
        # values (PostgreSQL's "generic" plan, which it takes when it looks no dearer).
        # Workspaces, repositories and robots differ in size by orders: a generic plan
        # made for an average repository read all 40,000 tasks of the bench's largest
        # to give a page of 50 (46 ms a request at 1M tasks, 18 ms with the values). The
        # worker, whose statements go by primary key, plans them once (runs.worker_pool:
        # 20% more runs a second). Empty: PostgreSQL's default (auto).
        plan_cache_mode = env("DATABASE_PLAN_CACHE_MODE", "force_custom_plan")
        if plan_cache_mode not in {"", "auto", "force_custom_plan", "force_generic_plan"}:
            raise ImproperlyConfigured(
                "DATABASE_PLAN_CACHE_MODE must be auto, force_custom_plan, force_generic_plan "
                f"or empty, not {plan_cache_mode!r}"
            )
        if plan_cache_mode:
            with_plan_mode = f"-c plan_cache_mode={plan_cache_mode}"
            given = DATABASES["default"]["OPTIONS"].get("options", "")
            DATABASES["default"]["OPTIONS"]["options"] = f"{given} {with_plan_mode}".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# Sign-ins (the admin, the console) go through django-axes first: after
# LOGIN_FAILURE_LIMIT failures of a username from one IP, that pair is locked out for
# LOGIN_COOLOFF_MINUTES (a 429 page; the API's tokens have their own throttle).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
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
# The worker (`manage.py db_worker`, runs.worker_pool). On PostgreSQL an enqueued job sends
# NOTIFY on commit and idle workers LISTEN, so the poll is only a safety net; SQLite has
# no such channel between processes, so its workers poll often (one indexed read each time).
WORKER_WAKEUP = env_bool("WORKER_WAKEUP", True)  # off: poll only (the bench's baseline)
_postgres = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
WORKER_POLL_SECONDS = env_float("WORKER_POLL_SECONDS", 5.0 if _postgres and WORKER_WAKEUP else 0.05)
# Jobs one worker process runs at once, on threads (runners wait on I/O: processes, HTTP).
WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 4)
if WORKER_CONCURRENCY < 1:
    raise ImproperlyConfigured("WORKER_CONCURRENCY must be at least 1")
# SIGTERM/SIGINT: the worker stops claiming, lets its runs end this long, then stops them
# and puts them back in the queue ("requeued: worker stopped") for another worker.
WORKER_GRACE_SECONDS = env_float("WORKER_GRACE_SECONDS", 30.0)

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
# Without one, the installation's own random secret (var/pusher-secret): a secret known
# to anyone (a constant in the repository) would let them sign channel auth and publish.
# Several hosts sharing one realtime server must all be given the same PUSHER_SECRET.
PUSHER_SECRET = env("PUSHER_SECRET", unquote(_pusher_url.password or "")) or installation_secret(
    "pusher-secret"
)
PUSHER_SECRET_MIN_BYTES = 32
if not DEBUG and len(PUSHER_SECRET.encode()) < PUSHER_SECRET_MIN_BYTES:
    raise ImproperlyConfigured(
        f"PUSHER_SECRET must be at least {PUSHER_SECRET_MIN_BYTES} bytes when "
        "DJANGO_DEBUG=false; unset it to use the installation's generated secret."
    )
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
# service), `layer` (straight into the Redis channel layer the built-in server reads),
# `none` (nowhere), or the dotted path of a publisher class (tests/settings.py records
# with one).
REALTIME_PUBLISHER = env("REALTIME_PUBLISHER", "pusher")
if REALTIME_PUBLISHER not in ("pusher", "layer", "none") and "." not in REALTIME_PUBLISHER:
    raise ImproperlyConfigured(
        "REALTIME_PUBLISHER must be pusher, layer, none or the dotted path of a publisher "
        f"class, not {REALTIME_PUBLISHER!r}"
    )
if REALTIME_PUBLISHER == "layer" and not REDIS_URL:
    raise ImproperlyConfigured(
        "REALTIME_PUBLISHER=layer needs REDIS_URL: without it the channel layer is each "
        "process's own, and a worker's events would reach no socket"
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
# How often an open SSE log stream and a WebSocket's private subscriptions read the
# caller's access again (removed member, lower role, revoked token: the stream ends).
STREAM_ACCESS_CHECK_SECONDS = float(env("STREAM_ACCESS_CHECK_SECONDS", "3"))
# The SSE stream's database read when the channel layer cannot carry the worker's lines
# (in-memory layer, i.e. no REDIS_URL): every second; with Redis, a slow safety net.
LOG_STREAM_POLL_SECONDS = float(env("LOG_STREAM_POLL_SECONDS", "1" if not REDIS_URL else "10"))
# The `openai` runner's defaults for robots without a profile (staff-made): the key goes
# to OPENAI_BASE_URL only. Profiles carry their own endpoint and (encrypted) key.
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_MODEL = env("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_API_KEY = env("OPENAI_API_KEY")
# Model endpoints on loopback, private or link-local addresses are refused (after DNS
# resolution) unless this is true: a local model server, or the tests' fake one.
RUNNER_ALLOW_PRIVATE_URLS = env_bool("RUNNER_ALLOW_PRIVATE_URLS", False)
# `command` runs: `bubblewrap` (the sandbox, runs/runners/sandbox.py; the command runner refuses
# to start without `bwrap`), or `none`: UNSAFE, the command runs as the worker's own user
# with the worker's view of the machine; for local development on a machine without
# bubblewrap only, never where anyone else can create robots.
RUN_SANDBOX = env("RUN_SANDBOX", "bubblewrap")
if RUN_SANDBOX not in ("bubblewrap", "none"):
    raise ImproperlyConfigured(f"RUN_SANDBOX must be bubblewrap or none, not {RUN_SANDBOX!r}")
RUN_SANDBOX_UID = env_int("RUN_SANDBOX_UID", 65534)  # a worker running as root drops to it
RUN_SANDBOX_ROOT = Path(env("RUN_SANDBOX_ROOT", "/tmp/taskdesk-runs"))  # per-run directories
# The limits of a run whose robot has no profile (profiles set their own).
RUN_CPU_SECONDS = env_int("RUN_CPU_SECONDS", 1800)
RUN_MEMORY_MB = env_int("RUN_MEMORY_MB", 4096)
RUN_MAX_PROCESSES = env_int("RUN_MAX_PROCESSES", 256)
RUN_MAX_OPEN_FILES = env_int("RUN_MAX_OPEN_FILES", 1024)
RUN_MAX_OUTPUT_BYTES = env_int("RUN_MAX_OUTPUT_BYTES", 5 * 1024 * 1024)
# The key that encrypts runner profiles' secrets (Fernet). Its own setting, not
# SECRET_KEY: the embedded mode's SECRET_KEY is a constant, and rotating SECRET_KEY must
# not lose the secrets. Without it, the installation's own (var/runner-secrets-key).
RUNNER_SECRETS_KEY = env("RUNNER_SECRETS_KEY") or installation_secret("runner-secrets-key")
# A JSON file of runner profiles that `manage.py load_runner_profiles` reads (optional).
RUNNER_PROFILES_FILE = env("RUNNER_PROFILES_FILE")
# Who may create workspaces (and so become their OWNER): `any` signed-in user, or `staff`.
WORKSPACE_CREATION = env("WORKSPACE_CREATION", "any")
if WORKSPACE_CREATION not in ("any", "staff"):
    raise ImproperlyConfigured(
        f"WORKSPACE_CREATION must be any or staff, not {WORKSPACE_CREATION!r}"
    )

# Integrations: repository webhooks in, signed webhooks out.
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024)  # inbound; larger: 413
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)  # one outbound request
# Loopback, private and link-local targets are refused unless this is on (a receiver on
# the same network; the tests' local receiver).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
# Seconds before each retry of a failed outbound delivery: 5 attempts over about an hour.
WEBHOOK_RETRY_DELAYS = [
    int(n) for n in env("WEBHOOK_RETRY_DELAYS", "30,120,600,2700").split(",") if n.strip()
]
WEBHOOK_DISABLE_AFTER_HOURS = env_int("WEBHOOK_DISABLE_AFTER_HOURS", 24)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["config.renderers.CamelCaseJSONRenderer"],
    # Bodies are JSON; the two exceptions name their own parsers: the upload (multipart,
    # chat.views.UploadViewSet) and Pusher's channel auth (a form, realtime.views).
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttling.AnonRateThrottle",
        "config.throttling.UserRateThrottle",
        "config.throttling.ActionThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", "600/min"),
        "user": env("THROTTLE_USER", "100000/min"),
        # Per user, for the actions that name them (config.throttling.ActionThrottle).
        "tokens": env("THROTTLE_TOKENS", "10/min"),
        "chat": env("THROTTLE_CHAT", "60/min"),
        "runs": env("THROTTLE_RUNS", "60/min"),
        # Per IP: wrong API tokens, counted before the 401 (accounts.authentication).
        "auth_failures": env("THROTTLE_AUTH_FAILURES", "30/min"),
    },
    "EXCEPTION_HANDLER": "config.exceptions.exception_handler",
    # No OPTIONS metadata (405): the schema at /api/schema describes every operation.
    "DEFAULT_METADATA_CLASS": None,
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
        "config.schema.add_error_responses",
        "config.schema.drop_storage_bounds",
    ],
    "AUTHENTICATION_WHITELIST": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.QueryTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

# Caches: local memory (throttling, token last-used stamps); Redis when configured, where
# an outage fails open (config.cache): what it holds can be lost.
CACHES = {
    "default": (
        {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Logs: plain text for a terminal (`make run`), one JSON object a line with LOG_FORMAT=json.
# Both carry the request id (and the user and workspace where known), and both scrub
# signatures, tokens and secrets from every line (config.logs).
LOG_FORMAT = env("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logs.RequestContextFilter"}},
    "formatters": {
        "plain": {
            "()": "config.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per request comes from config.middleware (with its id); Django's own
        # request logger would repeat 4xx/5xx lines without it.
        "django.request": {"level": "ERROR"},
    },
}

# Metrics (GET /metrics, Prometheus text format). Every process (daphne, workers, the
# dispatcher) writes its counters under PROMETHEUS_MULTIPROC_DIR and the endpoint adds
# them up: the variable must be set before prometheus_client is imported, hence here,
# in the environment too. `make run` empties the folder at start.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# A bearer token for /metrics; without one, only the loopback may read it.
METRICS_TOKEN = env("METRICS_TOKEN")
# Workspace ids as a label of the run metrics (unbounded cardinality: off by default).
METRICS_WORKSPACE_LABEL = env_bool("METRICS_WORKSPACE_LABEL", False)

# Worker presence (runs.presence): each worker stamps its row this often, and counts as
# alive while the stamp is WORKER_PRESENCE_SECONDS fresh (/readyz, a task's `no_worker`).
# READY_WORKER_STALE_SECONDS, its earlier name, is still read.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 2)
WORKER_PRESENCE_SECONDS = env_int(
    "WORKER_PRESENCE_SECONDS", env_int("READY_WORKER_STALE_SECONDS", 8)
)
READY_OUTBOX_MAX_BACKLOG = env_int("READY_OUTBOX_MAX_BACKLOG", 1000)
READY_OUTBOX_MAX_AGE_SECONDS = env_int("READY_OUTBOX_MAX_AGE_SECONDS", 300)
# Events that cannot reach the push server are retried quietly this long (the server may
# not listen yet, as during `make run`'s seed); after it, each failure is a WARNING.
OUTBOX_QUIET_SECONDS = env_int("OUTBOX_QUIET_SECONDS", 60)
# The longest wait between two attempts to send an event the push service refused (the
# waits double from 1 s): after an outage, events wait at most this long more.
OUTBOX_MAX_BACKOFF_SECONDS = env_int("OUTBOX_MAX_BACKOFF_SECONDS", 300)

# Housekeeping (ops.housekeeping, a periodic job of the workers): retention and alerts.
HOUSEKEEPING_INTERVAL_SECONDS = env_int("HOUSEKEEPING_INTERVAL_SECONDS", 60)
RETENTION_OUTBOX_DAYS = env_int("RETENTION_OUTBOX_DAYS", 7)  # delivered events; 0 keeps
RETENTION_JOBS_DAYS = env_int("RETENTION_JOBS_DAYS", 7)  # finished queue jobs; 0 keeps
RETENTION_LOG_DAYS = env_int("RETENTION_LOG_DAYS", 90)  # log lines of ended runs; 0 keeps
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000)  # rows per DELETE
STUCK_PENDING_MINUTES = env_int("STUCK_PENDING_MINUTES", 10)
STUCK_HEARTBEAT_SECONDS = env_int("STUCK_HEARTBEAT_SECONDS", 120)
FAILURE_SPIKE_WINDOW_MINUTES = env_int("FAILURE_SPIKE_WINDOW_MINUTES", 60)
FAILURE_SPIKE_MIN_RUNS = env_int("FAILURE_SPIKE_MIN_RUNS", 5)
FAILURE_SPIKE_PERCENT = env_int("FAILURE_SPIKE_PERCENT", 50)

# HTTPS: behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO.
# With an https SITE_URL in production, cookies are secure, HTTP redirects to HTTPS and
# HSTS is on (a year) unless these say otherwise.
_https = SITE_URL.startswith("https") and not DEBUG
if env("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (env("SECURE_PROXY_SSL_HEADER"), "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _https)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _https)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _https)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The health and metrics endpoints answer plain HTTP probes on the loopback.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# A Content-Security-Policy on every response (the console, the admin, the API docs):
# scripts and everything else from this server only; inline scripts only with the
# request's nonce (`{{ csp_nonce }}`); inline styles allowed (the admin and Swagger UI use
# them); WebSockets to this server or Pusher's service.
_push_origins = [f"wss://ws-{PUSHER_CLUSTER}.pusher.com"] if PUSHER_CLUSTER else []
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF, *_push_origins],
    "font-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.SELF],
    "form-action": [CSP.SELF],
}
