"""manage.py access_key create|revoke."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from integrations.models import AccessKey

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("access_key", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_key_alone_on_the_last_line_and_keeps_only_its_hash():
    out = run("create", "front door")
    key = out.splitlines()[-1]
    assert key.startswith("dhak_") and " " not in key
    row = AccessKey.objects.get(name="front door")
    assert key not in str(list(AccessKey.objects.values_list()))
    assert row.revoked_at is None
    response = Client().get("/api/v1/access/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200

    assert run("revoke", "front door") == 'Access key "front door" revoked.\n'
    response = Client().get("/api/v1/access/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("revoke", "nobody"), 'No key is named "nobody".'),
        (("create", "  "), "A key needs a name."),
    ],
)
def test_it_refuses_bad_arguments_with_one_sentence(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_it_refuses_a_second_key_of_the_same_name():
    run("create", "door")
    with pytest.raises(CommandError, match='A key named "door" already exists.'):
        run("create", "door")
    assert AccessKey.objects.count() == 1


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["create"],
        ["rotate", "door"],
        ["create", "a", "b"],
        ["revoke", "nobody"],
        ["create", "door", "--scope", "nonsense"],
    ],
)
def test_it_says_what_is_wrong_in_one_line_and_exits_non_zero(argv):
    from tests.dburl import test_database_url

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dhportal.settings_test"}
    env["DATABASE_URL"] = test_database_url()
    result = subprocess.run(
        [sys.executable, "manage.py", "access_key", *argv],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_it_gives_a_key_the_scopes_asked_for_and_access_read_by_default():
    run("create", "reader")
    out = run("create", "door", "--scope", "door-events:write", "--scope", "access:read")
    assert "with scopes access:read, door-events:write" in out
    assert run("create", "metrics", "--scope", "metrics:read").splitlines()[-1].startswith("dhak_")
    scopes = dict(AccessKey.objects.values_list("name", "scopes"))
    assert scopes == {
        "reader": ["access:read"],
        "door": ["access:read", "door-events:write"],
        "metrics": ["metrics:read"],
    }


def test_it_refuses_an_unknown_scope_and_makes_no_key():
    with pytest.raises(CommandError, match='Unknown scope "door:open"'):
        run("create", "door", "--scope", "door:open")
    with pytest.raises(CommandError, match="--scope goes with create."):
        run("revoke", "door", "--scope", "access:read")
    assert not AccessKey.objects.exists()
