import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _start_django(**env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="dhportal.settings", **env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = _start_django()
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_refuses_to_start_when_debug_is_explicitly_off_and_no_secret_key():
    result = _start_django(DEBUG="off")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_starts_with_a_secret_key_and_debug_off():
    result = _start_django(SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr


def _setting_values(names, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "HTTPS")}
    env.update(DJANGO_SETTINGS_MODULE="dhportal.settings", **env_overrides)
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


HTTPS_SETTINGS = ["SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS"]


def test_it_turns_https_on_by_default_in_production_except_for_healthz():
    values = _setting_values(HTTPS_SETTINGS + ["SECURE_REDIRECT_EXEMPT"], SECRET_KEY="x" * 50)
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] > 0
    assert any(re.match(p, "healthz") for p in values["SECURE_REDIRECT_EXEMPT"])


def test_it_allows_plain_http_with_https_false():
    values = _setting_values(HTTPS_SETTINGS, SECRET_KEY="x" * 50, HTTPS="false")
    assert values["SECURE_SSL_REDIRECT"] in (None, False)
    assert values["SESSION_COOKIE_SECURE"] in (None, False)


def test_it_reads_the_client_address_depth_for_allauth_from_trusted_proxy_count():
    values = _setting_values(
        ["ALLAUTH_TRUSTED_PROXY_COUNT"], SECRET_KEY="x" * 50, TRUSTED_PROXY_COUNT="2"
    )
    assert values["ALLAUTH_TRUSTED_PROXY_COUNT"] == 2


def test_it_sets_allauths_login_and_password_reset_limits_from_the_environment():
    values = _setting_values(
        ["ACCOUNT_RATE_LIMITS"], SECRET_KEY="x" * 50, LOGIN_FAILED_RATE_LIMIT="4/m/ip,2/5m/key"
    )
    limits = values["ACCOUNT_RATE_LIMITS"]
    assert limits["login_failed"] == "4/m/ip,2/5m/key"
    assert {"login", "reset_password", "reset_password_from_key"} <= set(limits)


def test_it_refuses_to_start_with_a_malformed_rate_limit():
    result = _start_django(SECRET_KEY="x" * 50, PASSWORD_RESET_RATE_LIMIT="lots")
    assert result.returncode != 0
    assert "PASSWORD_RESET_RATE_LIMIT='lots' is not a rate" in result.stderr


def test_it_keeps_sessions_in_redis_backed_by_the_database_when_the_cache_is_shared():
    names = ["SESSION_ENGINE", "CACHES"]
    shared = _setting_values(names, SECRET_KEY="x" * 50, CACHE_URL="redis://127.0.0.1:6379/3")
    assert shared["CACHES"]["default"]["BACKEND"].endswith("RedisCache")
    assert shared["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"

    local = _setting_values(names, SECRET_KEY="x" * 50, CACHE_URL="locmemcache://")
    assert local["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"


def test_it_shares_the_cache_through_the_database_without_cache_url():
    values = _setting_values(["CACHES", "SESSION_ENGINE"], SECRET_KEY="x" * 50, CACHE_URL="")
    default = values["CACHES"]["default"]
    assert default["BACKEND"] == "dhportal.cache.DatabaseCache"
    assert default["LOCATION"] == "dhportal_cache"
    # Sessions stay in their own table, as with any cache but Redis.
    assert values["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"
