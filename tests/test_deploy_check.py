"""`manage.py check --deploy` under production settings, as an operator would run it."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def check_deploy(**env_overrides) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "HTTPS", "DEBUG", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="dhportal.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="members.example.org",
        # The check never connects; a URL keeps the embedded server out of it.
        DATABASE_URL="postgres://nobody@127.0.0.1:1/unused",
        **env_overrides,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def issue_ids(result: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"\(([a-z_]+\.[EW]\d+)\)", result.stdout + result.stderr))


def test_it_reports_only_the_hsts_subdomain_and_preload_choices_in_production():
    result = check_deploy()
    assert result.returncode == 0, result.stderr
    assert issue_ids(result) == {"security.W005", "security.W021"}


def test_it_reports_nothing_once_the_operator_opts_into_hsts_subdomains_and_preload():
    result = check_deploy(SECURE_HSTS_INCLUDE_SUBDOMAINS="on", SECURE_HSTS_PRELOAD="on")
    assert result.returncode == 0, result.stderr
    assert issue_ids(result) == set()
    assert "no issues" in result.stdout


def test_it_reports_a_production_host_run_on_plain_http():
    # The check can fail: turning HTTPS off is what it warns about.
    result = check_deploy(HTTPS="false")
    assert {"security.W008", "security.W012", "security.W016"} <= issue_ids(result)
