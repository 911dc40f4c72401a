"""Step 1 must not tell a member from a newcomer by the work it does: the same queries,
of the same shapes, the same rate-limit counting and one mail either way. (It counts
the work; bench/signup.py and bench/lookup.py time it.)"""

import re

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import MemberFactory, UserFactory
from tests.jobs import send_signup_mails

NEW = "newcomer@example.org"
HELD = "held@example.org"
QUOTED = re.compile(r"'(?:[^']|'')*'")
# Savepoint names count up through a test (the mail's row and job are queued in one).
SAVEPOINT = re.compile(r'"s\d+_x\d+"')


def step_one(email: str, address: str) -> list[str]:
    """POST step 1 as a fresh browser; the SQL it ran, with its literal values elided."""
    with CaptureQueriesContext(connection) as queries:
        response = Client(REMOTE_ADDR=address).post("/signup/", {"email": email})
    assert response.status_code == 302
    assert response["Location"] == "/signup/sent/"
    return [
        SAVEPOINT.sub('"s?"', QUOTED.sub("'?'", query["sql"])) for query in queries.captured_queries
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "holder",
    [
        lambda: MemberFactory(email=HELD, user__email=HELD),
        lambda: UserFactory(email=HELD),
        lambda: MemberFactory(email=HELD, user=None),
    ],
    ids=["member", "user-without-member", "member-without-user"],
)
def test_it_runs_the_same_queries_for_a_new_and_a_held_address(holder):
    holder()

    new = step_one(NEW, "192.0.2.10")
    held = step_one(HELD, "192.0.2.11")

    assert len(new) == len(held)
    assert new == held
    # The lookup really looks: the shape is not trivially equal for want of a query.
    assert any("members_member" in sql for sql in new)
    send_signup_mails()  # the mails are sent by jobs
    to_new, to_member = mail.outbox
    assert (to_new.to, to_member.to) == ([NEW], [HELD])
    assert "/signup/continue/" in to_new.body
    assert "You already have an account" in to_member.body


@pytest.mark.django_db
def test_it_counts_a_new_and_a_held_address_against_the_same_limits(settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_email": "2/3600"}
    MemberFactory(email=HELD, user__email=HELD)

    def answers(email, first_address):
        return [
            Client(REMOTE_ADDR=f"198.51.100.{first_address + n}")
            .post("/signup/", {"email": email})
            .status_code
            for n in range(3)
        ]

    assert answers(NEW, 1) == answers(HELD, 101) == [302, 302, 429]
    send_signup_mails()
    assert len(mail.outbox) == 4
