"""`manage.py oidc_client create`: the client and its policy, the two last lines
scripts read, and a one-line refusal that writes nothing."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from allauth.idp.oidc.models import Client
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from identity.models import ClientPolicy
from members.models import Authorization
from tests.dburl import test_database_url

pytestmark = pytest.mark.django_db


def _create(*args) -> list[str]:
    out = StringIO()
    call_command("oidc_client", "create", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_registers_a_confidential_client_and_prints_its_id_and_secret_last():
    Authorization.objects.create(name="Laser")
    lines = _create(
        "Wiki",
        "--redirect-uri",
        "https://wiki.example.org/oidc/callback",
        "--redirect-uri",
        "https://wiki.example.org/other",
        "--status",
        "active",
        "lapsed",
        "--requires",
        "Laser",
    )
    client_id = lines[-2].removeprefix("client_id=")
    secret = lines[-1].removeprefix("client_secret=")
    client = Client.objects.get(pk=client_id)
    assert lines[-2].startswith("client_id=") and lines[-1].startswith("client_secret=")
    assert client.name == "Wiki" and client.type == "confidential" and not client.skip_consent
    assert client.check_secret(secret) and secret not in client.secret
    assert client.get_redirect_uris() == [
        "https://wiki.example.org/oidc/callback",
        "https://wiki.example.org/other",
    ]
    assert client.get_scopes() == ["openid", "email", "profile", "membership"]
    assert client.get_grant_types() == ["authorization_code", "refresh_token"]
    assert (client.policy.statuses, client.policy.requires) == (["active", "lapsed"], ["Laser"])


def test_it_registers_a_public_client_with_an_empty_secret_and_the_default_policy():
    lines = _create(
        "Laptops", "--redirect-uri", "http://127.0.0.1:8765/cb", "--public", "--skip-consent"
    )
    assert lines[-1] == "client_secret="
    client = Client.objects.get(pk=lines[-2].removeprefix("client_id="))
    assert (client.type, client.skip_consent) == ("public", True)
    assert (client.policy.statuses, client.policy.requires) == (["active"], [])


@pytest.mark.parametrize(
    "args, says",
    [
        (["--redirect-uri", "http://wiki.example.org/cb"], "plain http"),
        (["--redirect-uri", "https://wiki.example.org/cb#x"], "fragment"),
        (["--redirect-uri", "https://*.example.org/cb"], "wildcard"),
        (["--redirect-uri", "wiki/cb"], "not an absolute URI"),
        (["--redirect-uri", "https://wiki.example.org/cb", "--status", "royalty"], "royalty"),
        (["--redirect-uri", "https://wiki.example.org/cb", "--requires", "Unicorn"], "Unicorn"),
    ],
)
def test_it_refuses_bad_arguments_in_one_line_and_writes_nothing(args, says):
    with pytest.raises(CommandError, match=says) as refused:
        _create("Wiki", *args)
    assert "\n" not in str(refused.value)
    assert Client.objects.count() == ClientPolicy.objects.count() == 0


def test_it_refuses_a_second_client_of_the_same_name():
    _create("Wiki", "--redirect-uri", "https://wiki.example.org/cb")
    with pytest.raises(CommandError, match="already exists"):
        _create("wiki", "--redirect-uri", "https://wiki.example.org/cb")
    assert Client.objects.count() == 1


@pytest.mark.parametrize(
    "args",
    [
        ["create", "Wiki"],  # no redirect URI
        ["create", "Wiki", "--redirect-uri", "http://wiki.example.org/cb"],
        ["remove", "Wiki", "--redirect-uri", "https://wiki.example.org/cb"],
    ],
)
def test_it_says_what_is_wrong_in_one_line_on_the_command_line(args):
    result = subprocess.run(
        [sys.executable, "manage.py", "oidc_client", *args],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "DJANGO_SETTINGS_MODULE": "dhportal.settings_test",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
