"""dhportal settings, read from the environment (see README: Configuration)."""

import re
from email.utils import formataddr
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment (or DEBUG=on for "
            "local development; `make run` does this for you)."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "allauth",
    "allauth.account",
    # The second factor, and the identity provider the space's other systems log in
    # through (identity/ holds what they lack: policy, claims, revocation).
    "allauth.mfa",
    "allauth.idp.oidc",
    "csp",
    "procrastinate.contrib.django",
    "members",
    "dashboard",
    "signup",
    "billing",
    "legacy",
    "integrations",
    "identity",
    # The staff admin for the members app, on top of the feature apps.
    "staff",
]

MIDDLEWARE = [
    # First, so the policy is on every response: the https redirect and static files too.
    "csp.middleware.CSPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Staff set up a second factor before any admin page (STAFF_REQUIRE_MFA), and the
    # pages that send a browser on to a client may post to it (identity/middleware.py).
    "identity.middleware.StaffSecondFactorMiddleware",
    "identity.middleware.ClientFormActionMiddleware",
    # pghistory's, recording the route with its tokens elided (dhportal/routes.py).
    "members.audit.HistoryMiddleware",
]

ROOT_URLCONF = "dhportal.urls"
# The audit-event admin, with the list and id checks every admin here has.
PGHISTORY_ADMIN_CLASS = "dhportal.adminkit.EventsAdmin"
WSGI_APPLICATION = "dhportal.wsgi.application"

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
                # SITE_NAME, the contact address, SITE_ADDRESS and TERMS_URL on every page.
                "dhportal.context_processors.site",
            ],
            # `{% load site %}`: the day filter and the site name for every template,
            # the error pages and allauth's mails included.
            "libraries": {"site": "dhportal.templatetags.site"},
        },
    },
]

# Database: DATABASE_URL, or the embedded PostgreSQL under .data/ when it is unset.
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    # A socket directory is given percent-encoded as the host
    # (postgres://user@%2Frun%2Fpostgresql/db); django-environ leaves it encoded.
    DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST", ""))
else:
    from dhportal import embedded_db

    DATABASES = {"default": embedded_db.database_settings()}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Without CACHE_URL, the database cache on the project's own PostgreSQL (dhportal/cache.py):
# shared by every process, so rate limits hold with several workers. A per-process cache
# (locmemcache://) would count each limit once per worker.
_DATABASE_CACHE: dict[str, Any] = {
    "BACKEND": "dhportal.cache.DatabaseCache",
    "LOCATION": "dhportal_cache",
}
CACHES: dict[str, dict[str, Any]] = {
    "default": env.cache("CACHE_URL") if env.str("CACHE_URL", default="") else _DATABASE_CACHE
}
# With a shared cache (Redis), sessions are read from it and written through to the
# database, so a cache restart logs no one out. A per-process cache would hand other
# workers stale sessions (a logout seen by one worker only), so without one they stay
# in the database.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if CACHES["default"]["BACKEND"].endswith("RedisCache")
    else "django.contrib.sessions.backends.db"
)

AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-allauth: login by email; its own signup is closed (the signup app is the way in).
ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
# Login and password reset take the typed email in its canonical form (members/emails.py).
ACCOUNT_FORMS = {
    "login": "members.adapters.LoginForm",
    "reset_password": "members.adapters.ResetPasswordForm",
}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PRESERVE_USERNAME_CASING = True
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"

# The client address for every per-address rate limit, allauth's included:
# REMOTE_ADDR by default, or X-Forwarded-For taken N proxies deep.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT


def _allauth_rate(name: str, default: str) -> str:
    """An allauth rate ("<count>/<period><s|m|h|d>/<ip|key|user>", comma-separated),
    checked here: allauth would only find a typo at the first login, as a 500."""
    value = env.str(name, default=default)
    one = r"\d+/\d*\.?\d*[smhd](/(ip|key|user))?"
    if not re.fullmatch(rf"{one}(\s*,\s*{one})*", value.strip()):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate such as {default!r}.")
    return value


# allauth's limits on the attempts an attacker would repeat; "ip" is the client address
# above, so they count per client behind the load balancer too.
ACCOUNT_RATE_LIMITS = {
    "login": _allauth_rate("LOGIN_RATE_LIMIT", "30/m/ip"),
    "login_failed": _allauth_rate("LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/5m/key"),
    "reset_password": _allauth_rate("PASSWORD_RESET_RATE_LIMIT", "20/m/ip,5/m/key"),
    "reset_password_from_key": _allauth_rate("PASSWORD_RESET_FROM_KEY_RATE_LIMIT", "20/m/ip"),
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Mail: EMAIL_URL in django-environ form (consolemail://, filemail:////abs/path, smtp://...).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# Mails come from the space by name (SITE_NAME, below), quoted as a header needs.
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL",
    default=formataddr((env.str("SITE_NAME", default="Hackerspace"), "noreply@localhost")),
)

# Stripe
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_PRICING_TABLE_ID = env.str("STRIPE_PRICING_TABLE_ID", default="")
STRIPE_CUSTOMER_PORTAL_URL = env.str("STRIPE_CUSTOMER_PORTAL_URL", default="")
# Reconciliation only (billing/reconcile.py): a restricted key that can only read webhook
# endpoints, events, subscriptions and customers. Unset: reconciliation does not run.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
# Tests and benchmarks point this at a loopback fake of the Stripe API.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
# A reconciliation run's bounds (billing/reconcile.py): seconds for the whole run (the
# hourly job's must end before the next) and pages of 100 read from any one list. A run
# that reaches either stops and says so in a finding.
STRIPE_RECONCILE_DEADLINE = env.int("STRIPE_RECONCILE_DEADLINE", default=1800)
STRIPE_RECONCILE_MAX_PAGES = env.int("STRIPE_RECONCILE_MAX_PAGES", default=1000)

# Signup continue links are signed and expire after this many seconds.
SIGNUP_TOKEN_MAX_AGE = env.int("SIGNUP_TOKEN_MAX_AGE", default=24 * 60 * 60)

# HTTPS: on by default in production; HTTPS=false for a production-like run on plain http.
HTTPS = env.bool("HTTPS", default=not DEBUG)
if HTTPS:
    SECURE_SSL_REDIRECT = True
    # The load balancer's health check speaks plain http.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    # Both reach beyond this site (every subdomain; browsers' built-in lists), so they
    # are the operator's decision, off until set.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# No script of ours reads the CSRF cookie; forms carry the token in the page.
CSRF_COOKIE_HTTPONLY = True

# Content Security Policy: our own origin only, no inline script. The payment page adds
# the origins Stripe documents for its pricing table (signup.views.payment).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "img-src": [SELF, "data:"],
        "style-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
STRIPE_PRICING_TABLE_CSP = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": [SELF, "https://api.stripe.com"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    # Django's own lines name the request's path: tokens elided there too (dhportal/routes.py).
    "filters": {
        "elide_tokens": {"()": "dhportal.routes.ElideTokensFilter"},
        # runserver's log without the static files served fine (dhportal/devserver.py).
        "quiet_static": {"()": "dhportal.devserver.QuietStaticFilter", "prefix": STATIC_URL},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["elide_tokens"],
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["elide_tokens", "quiet_static"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "dhportal": {"level": env.str("LOG_LEVEL", default="INFO"), "propagate": True},
        "members": {"level": env.str("LOG_LEVEL", default="INFO"), "propagate": True},
        "signup": {"level": env.str("LOG_LEVEL", default="INFO"), "propagate": True},
        "billing": {"level": env.str("LOG_LEVEL", default="INFO"), "propagate": True},
        "identity": {"level": env.str("LOG_LEVEL", default="INFO"), "propagate": True},
    },
}

# Signup rate limits, "<count>/<seconds>", counted in the cache (shared across workers
# when CACHE_URL is Redis). Per client address (TRUSTED_PROXY_COUNT applies) and per email.
SIGNUP_RATE_LIMITS = {
    "signup_ip": env.str("SIGNUP_RATE_LIMIT_IP", default="20/3600"),
    "signup_email": env.str("SIGNUP_RATE_LIMIT_EMAIL", default="5/3600"),
    "check_username_ip": env.str("SIGNUP_RATE_LIMIT_CHECK_USERNAME", default="60/60"),
}

# The site as members see it: its name, contact, where to come for orientation, and the
# public base URL that links in mails sent by jobs are built from (no request there).
SITE_NAME = env.str("SITE_NAME", default="Hackerspace")
SITE_CONTACT_EMAIL = env.str("SITE_CONTACT_EMAIL", default="")
SITE_ADDRESS = env.str("SITE_ADDRESS", default="")
_FIRST_HOST = next((h.lstrip(".") for h in ALLOWED_HOSTS if h != "*"), "localhost")
SITE_URL = env.str("SITE_URL", default=f"{'https' if HTTPS else 'http'}://{_FIRST_HOST}")
SITE_URL = SITE_URL.rstrip("/")
# The terms of use the signup form links to (blank: the form names them without a link).
TERMS_URL = env.str("TERMS_URL", default="")
# allauth's own mails (password reset) carry the site's name, not the request's host.
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
# A login email change's confirmation link works this long (seconds).
EMAIL_CHANGE_MAX_AGE = env.int("EMAIL_CHANGE_MAX_AGE", default=24 * 60 * 60)
# The key of the ban hash an erased, banned member leaves (members/erasure.py, README,
# "Privacy"). Changing it forgets every such ban, so set it once; without it a key is derived
# from SECRET_KEY under a fixed salt (a leaked digest list alone then says nothing).
ERASURE_HASH_KEY = env.str("ERASURE_HASH_KEY", default="")
if not ERASURE_HASH_KEY:
    import hashlib as _hashlib

    ERASURE_HASH_KEY = _hashlib.sha256(
        b"dhportal.members.erasure.ban-hash:" + SECRET_KEY.encode()
    ).hexdigest()

# Background jobs (procrastinate, on this database; `manage.py worker`).
# Four jobs at once per worker (mail jobs mostly wait on the SMTP server). Workers delete
# nothing themselves: the periodic prune in members/tasks.py does (failed jobs kept longer).
PROCRASTINATE_WORKER_DEFAULTS = {"delete_jobs": "never", "concurrency": 4}

# Door events (integrations/doors.py): how long they are kept (pruned daily), and how far
# back "Who is here" looks for a granted entry.
DOOR_EVENT_RETENTION_DAYS = env.int("DOOR_EVENT_RETENTION_DAYS", default=365)
PRESENCE_HOURS = env.int("PRESENCE_HOURS", default=12)
# The identity provider (allauth.idp.oidc; identity/ adds the clients' policies, the
# claims and the revocation): the space's other systems log members in with OpenID
# Connect. Its signing key is an RSA private key in PEM form; an env file may hold it on
# one line with its line breaks written as \n (README, "Log in to other systems with the
# portal"). Unset, the provider is off: its pages answer 404 and `check --deploy` says so.
IDP_OIDC_PRIVATE_KEY = env.str("IDP_OIDC_PRIVATE_KEY", default="", multiline=True).strip()
IDP_OIDC_ADAPTER = "identity.adapter.OIDCAdapter"

# The second factor (allauth.mfa): an authenticator app (TOTP) and recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = SITE_NAME
# allauth refuses a second factor while a login has an unverified address, against a
# stranger signing up with someone's address first. Here allauth's signup is closed; the
# unverified addresses are those a merge or the import wrote, and their owners (staff
# among them) must still be able to set one up.
MFA_ALLOW_UNVERIFIED_EMAIL = True
# Staff without a second factor are sent to set one up before any admin page; once they
# have one, every login asks for its code (identity/middleware.py).
STAFF_REQUIRE_MFA = env.bool("STAFF_REQUIRE_MFA", default=not DEBUG)
