"""Settings, read from the environment (see .env.example for every variable).

Defaults are for a developer's laptop: SQLite and kombu's filesystem broker
under ``var/``, so nothing but Python is needed. Production sets DEBUG=false,
which makes SECRET_KEY and FIELD_ENCRYPTION_KEY mandatory.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from gluey.env import env_bool, env_fernet_keys, env_float, env_floats, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("GLUEY_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)


def _dev_secret(filename: str, make: Callable[[], str]) -> str:
    """A per-checkout secret kept under var/ so restarts keep sessions and ciphertexts."""
    path = VAR_DIR / filename
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "") or _dev_secret("secret_key", lambda: secrets.token_urlsafe(50))
    FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEY") or [
        _dev_secret("field_encryption_key", lambda: Fernet.generate_key().decode())
    ]
else:
    SECRET_KEY = env_str("SECRET_KEY", "")
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY must be set to at least 32 characters when DEBUG is off")
    FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEY")
    if not FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set when DEBUG is off")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# A refused CSRF check answers JSON outside the admin, never Django's HTML page.
CSRF_FAILURE_VIEW = "tracking.api.exceptions.csrf_failure"
# Private ranges outbound webhooks may reach; empty in production (public internet only).
WEBHOOK_ALLOWED_NETWORKS = env_networks("WEBHOOK_ALLOWED_NETWORKS", [])

INSTALLED_APPS = [
    "ops",  # the ops console; first so its admin/index.html (the dashboard link) overrides the admin's
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: /api/docs works offline
    "django_celery_beat",
    "axes",  # admin login lockout: AccessAttempt rows, listed and deletable in the admin
    "tracking",
    "carriers",
    "notifications",
    "edi",
]

MIDDLEWARE = [
    "gluey.logging.RequestIdMiddleware",  # first: every later log line carries the request id
    "django.middleware.gzip.GZipMiddleware",  # responses compressed when the client asks (Accept-Encoding)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, request.user and messages for the admin only (gluey/middleware.py).
    "gluey.middleware.AdminSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "gluey.middleware.AdminAuthenticationMiddleware",
    "gluey.middleware.AdminMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "gluey.middleware.CachedCSPMiddleware",  # django-csp's, the policy built once per process
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its 429 page
]

# Axes checks every login before Django's own backend does.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "gluey.urls"
WSGI_APPLICATION = "gluey.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------
_default_db = f"sqlite:///{VAR_DIR / 'gluey.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_db), conn_max_age=60)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from None

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock
    # at BEGIN so web, worker and beat queue for it instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # tracking.db prepares its hot statements once per connection. Planned once too: left to
    # choose, PostgreSQL re-plans a statement whose generic plan looks dearer than the plans
    # for the values at hand, and recording's state update (with its CTE rewriting histories)
    # cost 0.4 ms of planning per call. Only server-side prepared statements are affected.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
DATABASES["default"].setdefault("TEST", {})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Times in the admin and the ops console: 24-hour, with seconds, zone named (gluey/formats/en_GB).
FORMAT_MODULE_PATH = ["gluey.formats"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- Request limits and security -------------------------------------------
# Carrier webhooks may carry up to 5 MB; the view enforces that limit itself.
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# No inline or third-party script anywhere: the admin has none, the API docs load their
# initialiser as a file (SpectacularSwaggerSplitView). Inline styles stay allowed (the admin's
# widgets and Swagger UI set style attributes); images may be data: URIs (Swagger UI's icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Admin login lockout (django-axes): this many failures from one IP for one user name lock
# that pair out for AXES_COOLOFF_MINUTES; staff clear it under Axes › Access attempts.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner in every management command's output

# The ops dashboard calls a carrier stale (orange) when its last event is older than this many hours.
OPS_CARRIER_STALE_HOURS = env_int("OPS_CARRIER_STALE_HOURS", 6, minimum=1)
# … and a due poll late by more than this many seconds orange; an endpoint whose oldest waiting delivery is older than
# OPS_QUEUE_AGE_BAD_SECONDS red.
OPS_POLL_LAG_WARN_SECONDS = env_int("OPS_POLL_LAG_WARN_SECONDS", 15 * 60, minimum=1)
OPS_QUEUE_AGE_BAD_SECONDS = env_int("OPS_QUEUE_AGE_BAD_SECONDS", 60 * 60, minimum=1)
# Failed inbound messages one "Reprocess failed" click queues again (oldest first; click again for more).
OPS_MAX_REPROCESS = env_int("OPS_MAX_REPROCESS", 1000, minimum=1)
# Hours of refused-webhook counters kept for the dashboard, in days.
OPS_REFUSALS_KEEP_DAYS = env_int("OPS_REFUSALS_KEEP_DAYS", 7, minimum=1)
# /metrics answers only requests carrying "Authorization: Bearer <METRICS_TOKEN>"; empty = refused to all.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- REST API ---------------------------------------------------------------
API_KEY_CUSTOM_HEADER = "HTTP_X_KEY"
# Seconds a checked API key is trusted without a database read (a revocation takes effect within this).
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 5, minimum=0)
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["tracking.api.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"api_key": env_str("API_THROTTLE_RATE", "600/min")},
    "EXCEPTION_HANDLER": "tracking.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gluey tracking API",
    "DESCRIPTION": "Register shipments, track them in batches, follow the event feed and subscribe to webhooks.",
    "VERSION": "v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # 3.1 for the webhooks section (the outbound TrackingWebhookEvent).
    "OAS_VERSION": "3.1.0",
    "WEBHOOKS": ["tracking.api.schema.TRACKING_WEBHOOK"],
    "ENUM_NAME_OVERRIDES": {
        "LocationType": "tracking.types.LocationType",
        "ParcelCondition": "tracking.types.ParcelCondition",
        "ImageFormat": "tracking.types.ImageFormat",
        "TrackingLevel": "tracking.models.TrackingLevel",
        "GlueyMilestone": "tracking.api.serializers.MILESTONES",
        "GlueyCode": "tracking.api.serializers.GLUEY_CODES",
        "GlueySubCode": "tracking.api.serializers.GLUEY_SUB_CODES",
    },
}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("CACHE_URL", "")}
        if env_str("CACHE_URL", "")
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "gluey_cache"}
    )
}

# --- Celery -----------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "control_folder": str(BROKER_DIR),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = "default"
# Every queue a deployment needs, declared: a worker started without -Q consumes them all.
# default: beat heartbeat, sweepers, purges and re-harmonisation; the others as routed below.
CELERY_TASK_QUEUES = [Queue(name) for name in ("default", "ingest", "notify", "poll", "sftp")]
CELERY_TASK_ROUTES = {
    "carriers.tasks.inbound_*": {"queue": "ingest"},
    "carriers.tasks.sftp_*": {"queue": "sftp"},
    "carriers.tasks.poll_*": {"queue": "poll"},
    "notifications.tasks.delivery_*": {"queue": "notify"},
    "notifications.tasks.export_*": {"queue": "sftp"},
}
# A task that hangs must not hold a worker forever; long jobs override these.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every
# task unless told to reuse it, which starts a new PostgreSQL backend per task.
# Reuse it; it is closed every 2 × this many tasks (and on errors, by Django).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 500, minimum=0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat copies these into PeriodicTask rows when it starts; /healthz reads the heartbeat's timestamp.
CELERY_BEAT_SCHEDULE = {"gluey: beat heartbeat": {"task": "gluey.tasks.heartbeat", "schedule": 60.0}}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Retention in days (carriers.services.retention; the README's retention table lists every one).
RETENTION_INBOUND_DAYS = env_int("RETENTION_INBOUND_DAYS", 30, minimum=1)
RETENTION_POLL_RESPONSES_DAYS = env_int("RETENTION_POLL_RESPONSES_DAYS", 30, minimum=1)
RETENTION_FAILED_DAYS = env_int("RETENTION_FAILED_DAYS", 90, minimum=1)
RETENTION_SFTP_LEDGER_DAYS = env_int("RETENTION_SFTP_LEDGER_DAYS", 90, minimum=1)
# Rows deleted per purge transaction (short transactions never hold up ingestion).
RETENTION_CHUNK = env_int("RETENTION_CHUNK", 2000, minimum=1)
# Micro-batched ingest: a drain takes up to this many pending messages of a carrier per transaction …
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 200, minimum=1)
# … claiming at most once this often while it keeps up, so the webhooks of that time make one batch
# (0: at once; a lingering drain waits at least 1 ms) …
INGEST_BATCH_WAIT_MS = env_int("INGEST_BATCH_WAIT_MS", 100, minimum=0)
# … and while a wake is queued (flag in Redis for this long at most), webhooks queue no other.
INGEST_WAKE_SECONDS = env_int("INGEST_WAKE_SECONDS", 2, minimum=1)
# With Redis, a drain stays while messages keep arriving: it leaves after this long without one …
INGEST_DRAIN_IDLE_MS = env_int("INGEST_DRAIN_IDLE_MS", 200, minimum=0)
# … or after this many seconds in all, then queues itself again behind the tasks waiting meanwhile
# (a worker that also serves other queues is never held longer than this by one carrier's drain).
INGEST_DRAIN_MAX_SECONDS = env_float("INGEST_DRAIN_MAX_SECONDS", 2.0, minimum=0.1)
# With Redis, one drain per carrier runs at a time; a killed worker's claim lapses after this many seconds.
INGEST_DRAIN_LEASE_SECONDS = env_int("INGEST_DRAIN_LEASE_SECONDS", 60, minimum=5)

# --- Logging ----------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    # request_id / inbound_message_id / delivery_id … from gluey.logging.log_context on every record.
    "filters": {"context": {"()": "gluey.logging.ContextFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if env_bool("LOG_JSON", not DEBUG) else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # axes logs every login at INFO; its warnings (lockouts) still show.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Domain defaults ----------------------------------------------------------
# Events for tracking numbers nobody registered are kept this long.
UNREGISTERED_RETENTION_DAYS = env_int("UNREGISTERED_RETENTION_DAYS", 30, minimum=1)
# A number whose poll requests the carrier refuses (400) this many times in a row is no longer polled.
POLL_ISOLATE_AFTER = env_int("POLL_ISOLATE_AFTER", 5, minimum=1)
# Renew a push subscription (UPS Track Alert, 14 days) this many hours before it runs out.
PUSH_RENEW_HOURS = env_int("PUSH_RENEW_HOURS", 24, minimum=1)
# Predicted delivery: a lane needs this many past deliveries before we predict on it,
PREDICTION_MIN_SAMPLES = env_int("PREDICTION_MIN_SAMPLES", 30, minimum=5)
# learnt from deliveries of the last this many days,
PREDICTION_HISTORY_DAYS = env_int("PREDICTION_HISTORY_DAYS", 180, minimum=7)
# and relearnt this often by the beat task.
PREDICTION_REFRESH_MINUTES = env_int("PREDICTION_REFRESH_MINUTES", 60, minimum=1)
# Seconds a process keeps the lane models it read (track reads and webhooks need them for every shipment on its way).
PREDICTION_CACHE_SECONDS = env_int("PREDICTION_CACHE_SECONDS", 60, minimum=0)
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# /healthz fails when beat's heartbeat (written every minute) is older than this.
HEALTHZ_BEAT_MAX_AGE_SECONDS = env_float("HEALTHZ_BEAT_MAX_AGE_SECONDS", 180.0, minimum=1)

# Largest code-map CSV the admin accepts for import (bytes).
CODE_MAP_MAX_BYTES = env_int("CODE_MAP_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)

# --- Carriers: webhooks, polling, sFTP fetch ------------------------------------
# Webhook views keep a carrier's row this long per process (a save elsewhere shows after it).
CARRIER_CACHE_SECONDS = env_float("CARRIER_CACHE_SECONDS", 5.0, minimum=0)
# How long a taken item stays reserved for its poll task; a lost task frees it after this.
POLL_LEASE_SECONDS = env_int("POLL_LEASE_SECONDS", 10 * 60, minimum=1)
# Longest gap between two checks of a quiet tracked item; when a carrier's daily budget is short, of any item.
POLL_MAX_INTERVAL_SECONDS = env_int("POLL_MAX_INTERVAL_SECONDS", 12 * 3600, minimum=60)
POLL_MAX_STRETCHED_INTERVAL_SECONDS = env_int("POLL_MAX_STRETCHED_INTERVAL_SECONDS", 24 * 3600, minimum=60)
# Share of a carrier's daily request budget the polling cadence plans for; the rest absorbs retries and new numbers.
POLL_BUDGET_HEADROOM = env_float("POLL_BUDGET_HEADROOM", 0.9, minimum=0.05)
# How often the dispatcher re-fits each carrier's cadence to its budget (it counts every scheduled number).
POLL_PLAN_SECONDS = env_int("POLL_PLAN_SECONDS", 300, minimum=60)
# Cadence factors on a carrier's poll interval: out for delivery (sooner), idle (no event yet), and numbers the
# carrier also pushes (polled only as a safety net).
POLL_URGENT_FACTOR = env_float("POLL_URGENT_FACTOR", 0.5, minimum=0.05)
POLL_IDLE_FACTOR = env_float("POLL_IDLE_FACTOR", 8.0, minimum=1)
POLL_PUSHED_FACTOR = env_float("POLL_PUSHED_FACTOR", 8.0, minimum=1)
# Back-off for a carrier whose API keeps failing without a Retry-After: doubles from BASE up to MAX.
POLL_BACKOFF_BASE_SECONDS = env_int("POLL_BACKOFF_BASE_SECONDS", 60, minimum=1)
POLL_BACKOFF_MAX_SECONDS = env_int("POLL_BACKOFF_MAX_SECONDS", 3600, minimum=1)
# Pause after credential or request errors, which retrying will not fix.
POLL_PERMANENT_BACKOFF_SECONDS = env_int("POLL_PERMANENT_BACKOFF_SECONDS", 15 * 60, minimum=1)
# One carrier's sFTP fetch holds its lock this long (renewed per file).
SFTP_FETCH_LOCK_SECONDS = env_int("SFTP_FETCH_LOCK_SECONDS", 6 * 60, minimum=10)
# Defaults for carriers whose sFTP config does not set max_file_bytes / stable_seconds.
SFTP_MAX_FILE_BYTES = env_int("SFTP_MAX_FILE_BYTES", 50 * 1024 * 1024, minimum=1)
SFTP_STABLE_SECONDS = env_float("SFTP_STABLE_SECONDS", 2.0, minimum=0)
# How often a carrier's sFTP directory is fetched when its config sets no interval_seconds.
SFTP_FETCH_INTERVAL_SECONDS = env_int("SFTP_FETCH_INTERVAL_SECONDS", 60, minimum=10)

# --- Notifications: webhook deliveries and sFTP exports --------------------------
# Retry delays in seconds after each failed attempt (10 s … 6 h), then every WEBHOOK_RETRY_EVERY.
WEBHOOK_RETRY_SCHEDULE = env_floats(
    "WEBHOOK_RETRY_SCHEDULE", (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600), minimum=0
)
WEBHOOK_RETRY_EVERY = env_float("WEBHOOK_RETRY_EVERY", 12 * 3600, minimum=1)
# Each retry delay is spread by up to this fraction either way.
WEBHOOK_RETRY_JITTER = env_float("WEBHOOK_RETRY_JITTER", 0.2, minimum=0)
# A delivery is dead-lettered when it has failed for this long (seconds).
WEBHOOK_MAX_AGE = env_float("WEBHOOK_MAX_AGE", 24 * 3600, minimum=1)
# A receiver's Retry-After is honoured up to this many seconds.
WEBHOOK_RETRY_AFTER_MAX = env_float("WEBHOOK_RETRY_AFTER_MAX", 12 * 3600, minimum=0)
WEBHOOK_CONNECT_TIMEOUT = env_float("WEBHOOK_CONNECT_TIMEOUT", 5.0, minimum=0.1)
WEBHOOK_TOTAL_TIMEOUT = env_float("WEBHOOK_TOTAL_TIMEOUT", 30.0, minimum=0.1)
# An endpoint's sender lease; 0 means 2 × WEBHOOK_TOTAL_TIMEOUT + 60.
WEBHOOK_LEASE_SECONDS = env_float("WEBHOOK_LEASE_SECONDS", 0.0, minimum=0)
WEBHOOK_EVENTS_PER_DELIVERY = env_int("WEBHOOK_EVENTS_PER_DELIVERY", 100, minimum=1)
# Deliveries / wall seconds one task spends on one endpoint before handing the worker back.
WEBHOOK_DRAIN_BATCH = env_int("WEBHOOK_DRAIN_BATCH", 200, minimum=1)
WEBHOOK_DRAIN_SECONDS = env_float("WEBHOOK_DRAIN_SECONDS", 60.0, minimum=1)
# Retries further out than this wait for the sweeper instead of a broker countdown.
WEBHOOK_COUNTDOWN_MAX = env_float("WEBHOOK_COUNTDOWN_MAX", 300.0, minimum=0)
# Days delivered and dead-lettered deliveries are kept.
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 90, minimum=1)
# How long the previous signing secret still signs after a rotation (seconds).
WEBHOOK_SECRET_ROTATION_OVERLAP = env_float("WEBHOOK_SECRET_ROTATION_OVERLAP", 24 * 3600, minimum=0)
# Events in one export file (a bigger backlog goes out as several), and an export run's lock.
EXPORT_MAX_EVENTS = env_int("EXPORT_MAX_EVENTS", 10_000, minimum=1)
# Files one export run may write before it leaves the rest of a backlog to the next run.
EXPORT_FILES_PER_RUN = env_int("EXPORT_FILES_PER_RUN", 10, minimum=1)
EXPORT_LEASE_SECONDS = env_float("EXPORT_LEASE_SECONDS", 600.0, minimum=10)
