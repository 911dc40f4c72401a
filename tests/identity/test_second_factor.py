"""The second factor (allauth.mfa, TOTP and recovery codes): members turn it on from
/dashboard/account/, the setup page gives the key as text too, every login then asks
for a code; with STAFF_REQUIRE_MFA staff set one up before any admin page. Codes are
computed with pyotp, as an authenticator app computes them."""

import os
import subprocess
import sys

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.test import Client

from tests.factories import DEFAULT_PASSWORD, MemberFactory, StaffFactory
from tests.identity.flow import ACTIVATE, AUTHENTICATE, log_in, set_up_totp
from tests.identity.rp import totp_code

pytestmark = pytest.mark.django_db


def test_a_member_turns_it_on_from_the_account_page_and_logins_then_ask_for_a_code():
    member = MemberFactory()
    http, _ = log_in(member.user)
    account = http.get("/dashboard/account/").content.decode()
    assert 'href="/accounts/2fa/"' in account and "Set up a second factor" in account

    secret = set_up_totp(http)
    assert Authenticator.objects.filter(user=member.user, type="totp").exists()
    assert "Manage the second factor" in http.get("/dashboard/account/").content.decode()

    again, answer = log_in(member.user)
    assert answer["Location"] == AUTHENTICATE
    assert again.get("/dashboard/").status_code == 302  # not logged in before the code
    wrong = again.post(
        AUTHENTICATE, {"code": "000000" if totp_code(secret) != "000000" else "111111"}
    )
    assert wrong.status_code == 200 and b"Incorrect code" in wrong.content
    assert again.post(AUTHENTICATE, {"code": totp_code(secret)})["Location"] == "/dashboard/"
    assert again.get("/dashboard/").status_code == 200


def test_a_recovery_code_logs_in_once():
    member = MemberFactory()
    http, _ = log_in(member.user)
    set_up_totp(http)
    codes = Authenticator.objects.get(user=member.user, type="recovery_codes").wrap()
    code = codes.get_unused_codes()[0]

    again, _ = log_in(member.user)
    assert again.post(AUTHENTICATE, {"code": code})["Location"] == "/dashboard/"
    third, _ = log_in(member.user)
    assert third.post(AUTHENTICATE, {"code": code}).status_code == 200


def test_staff_without_a_second_factor_are_sent_to_set_one_up_before_any_admin_page(
    settings,
):
    settings.STAFF_REQUIRE_MFA = True
    staff = StaffFactory()
    http, answer = log_in(staff, next_url="/admin/")
    assert answer["Location"] == "/admin/"
    for page in ("/admin/", "/admin/members/member/", "/admin/login/"):
        response = http.get(page)
        assert (response.status_code, response["Location"]) == (302, ACTIVATE), page
    secret = set_up_totp(http)
    assert http.get("/admin/").status_code == 200

    # Every staff login now asks for the code, the admin's included.
    again = Client()
    login = again.get("/admin/login/?next=/admin/")
    assert login["Location"].startswith("/accounts/login/")
    step = again.post(
        "/accounts/login/",
        {"login": staff.email, "password": DEFAULT_PASSWORD, "next": "/admin/"},
    )
    assert step["Location"] == AUTHENTICATE
    assert again.get("/admin/").status_code == 302
    assert again.post(AUTHENTICATE, {"code": totp_code(secret)})["Location"] == "/admin/"
    assert again.get("/admin/").status_code == 200


def test_members_and_staff_are_left_alone_when_it_is_off_and_members_when_on(settings):
    settings.STAFF_REQUIRE_MFA = False
    staff_http, _ = log_in(StaffFactory())
    assert staff_http.get("/admin/").status_code == 200

    settings.STAFF_REQUIRE_MFA = True
    member_http, _ = log_in(MemberFactory().user)
    assert member_http.get("/dashboard/").status_code == 200
    assert member_http.get("/admin/")["Location"].startswith("/admin/login/")


def test_it_is_on_by_default_without_debug_and_off_with_it():
    env = {
        k: v for k, v in os.environ.items() if k not in ("STAFF_REQUIRE_MFA", "DEBUG", "SECRET_KEY")
    }
    env.update(DJANGO_SETTINGS_MODULE="dhportal.settings", SECRET_KEY="x" * 50)
    code = "from django.conf import settings as s; print(s.STAFF_REQUIRE_MFA)"
    for debug, expected in (("off", "True"), ("on", "False")):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=settings.BASE_DIR,
            env={**env, "DEBUG": debug},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.stdout.strip() == expected, result.stderr
