"""A signup process killed after its critical commit and before the scaffolding steps:
the member exists with everything the visitor typed, shows as partial in admin, and
repair_members makes it whole."""

import datetime
import json
import os
import signal
import subprocess
import sys
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from members import scaffolding
from members.models import Member
from tests.dburl import test_database_url
from tests.factories import StaffFactory

ADMIN_LIST = "/admin/members/member/"

DETAILS = {
    "email": "crashed.signup@example.org",
    "username": "crashtest",
    "password": "cobol-Compiler-1959",
    "first_name": "Grace",
    "last_name": "Hopper",
    "preferred_name": "Amazing Grace",
    "pronouns": "she/her",
    "birthday": "1990-05-01",
    "phone": "+1 (555) 010-2000",
    "discord_username": "grace#1906",
    "is_21_or_older": True,
}

# Django runs on-commit callbacks in the order they were registered, once the outermost
# transaction has committed. Registered before the signup's four scaffolding steps, the
# kill lands exactly between the commit and the scaffolding.
SIGNUP_THEN_DIE = """
import datetime, json, os, signal, sys

import django

django.setup()
from django.db import transaction

from signup.services import member_signup

details = json.loads(sys.argv[1])
details["birthday"] = datetime.date.fromisoformat(details["birthday"])
with transaction.atomic():
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
    member_signup(**details)
print("the process outlived its commit")
"""


def signup_killed_after_commit():
    result = subprocess.run(
        [sys.executable, "-c", SIGNUP_THEN_DIE, json.dumps(DETAILS)],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dhportal.settings_test",
            "DATABASE_URL": test_database_url(),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "outlived" not in result.stdout
    # No scaffolding step ran, not even to fail.
    assert "initialized" not in result.stderr
    assert "failed" not in result.stderr


def repair_in_process() -> str:
    out = StringIO()
    call_command("repair_members", stdout=out)
    return out.getvalue()


def repair_from_the_shell() -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "repair_members"],
        cwd=settings.BASE_DIR,
        env={
            "DATABASE_URL": test_database_url(),
            "SECRET_KEY": "crash-recovery-test-key",
            "PATH": "/usr/bin:/bin",
            "HTTPS": "false",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def admin_list(client, query=""):
    response = client.get(ADMIN_LIST + query)
    assert response.status_code == 200
    return response.content.decode(), {m.pk for m in response.context["cl"].result_list}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("repair", [repair_in_process, repair_from_the_shell])
def test_it_leaves_a_partial_member_after_a_crash_that_repair_members_makes_whole(repair):
    signup_killed_after_commit()

    member = Member.objects.get(email=DETAILS["email"])
    user = member.user
    assert (user.email, user.username) == (DETAILS["email"], DETAILS["username"])
    assert user.check_password(DETAILS["password"])
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == (DETAILS["email"], True, True)
    assert member.username == DETAILS["username"]
    assert member.identity["first_name"] == "Grace"
    assert member.identity["nickname"] == "Amazing Grace"
    assert member.identity["birthday"] == "1990-05-01"
    assert member.status["membership_status"] == "pending"
    assert member.status["membership_level"] == "New Member"
    assert datetime.date.fromisoformat(member.status["member_since"])
    assert member.connections == {"phone": "+1 (555) 010-2000", "discord_username": "grace#1906"}
    assert member.forms["terms_of_use_accepted"] is True
    assert member.forms["terms_accepted_at"]
    assert member.forms["is_21_or_older"] is True
    for column in scaffolding.SCAFFOLDING_COLUMNS:
        assert getattr(member, column) is None, column
    assert scaffolding.missing_columns(member) == list(scaffolding.SCAFFOLDING_COLUMNS)
    assert list(Member.objects.partial().values_list("pk", flat=True)) == [member.pk]

    staff = Client()
    staff.force_login(StaffFactory())
    page, _ = admin_list(staff)
    assert "1 member is partial" in page
    missing = "notes not set up, door access not set up, authorizations not set up"
    assert f"{missing}, storage not set up" in page
    assert admin_list(staff, "?scaffolding=partial")[1] == {member.pk}
    assert admin_list(staff, "?scaffolding=missing_extras")[1] == {member.pk}

    assert "Repaired 1 member (4 columns filled)" in repair()

    member.refresh_from_db()
    for column in scaffolding.SCAFFOLDING_COLUMNS:
        assert getattr(member, column) == scaffolding.default(column), column
    assert scaffolding.missing_columns(member) == []
    assert member.status["membership_status"] == "pending"
    assert member.connections["phone"] == "+1 (555) 010-2000"
    assert not Member.objects.partial().exists()
    page, _ = admin_list(staff)
    assert "partial (missing columns)" not in page
    assert admin_list(staff, "?scaffolding=partial")[1] == set()
    assert admin_list(staff, "?scaffolding=complete")[1] == {member.pk}
    # Created by signup, completed by the command: both in the member's history.
    sources = [e.pgh_context.metadata["source"] for e in member.events.order_by("pgh_id")]
    assert sources == ["signup", "command"]
