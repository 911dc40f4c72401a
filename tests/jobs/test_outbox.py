"""The outbox every portal mail goes out through (dhportal/mail.py): each kind's send
task is the registered one its rows name, in the mail queue with the outside world's
retry policy; a sent mail's row goes with the send, and a row whose mail keeps failing
is forgotten on the last attempt, its address kept no longer than the mail takes."""

import inspect
import logging
import smtplib

import pytest

from dhportal.jobs import OUTSIDE_RETRY, task_named
from dhportal.mail import MAIL_QUEUE
from members.email_change import EMAIL_CHANGE_MAILS, email_change_mail_queue
from members.models import EmailChangeMail
from members.notifications import NOTIFICATION_MAILS
from signup.mail import SIGNUP_MAILS, signup_mail_queue
from signup.models import SignupMail
from tests.factories import MemberFactory
from tests.jobs import SIGNUP_TASK, jobs, run_in_process

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "outbox", [SIGNUP_MAILS, EMAIL_CHANGE_MAILS, NOTIFICATION_MAILS], ids=lambda o: o.label
)
def test_it_sends_each_kind_through_a_registered_mail_task_taking_the_rows_id(outbox):
    task = task_named(outbox.task)

    assert task.queue == MAIL_QUEUE
    assert task.retry_strategy is OUTSIDE_RETRY
    assert list(inspect.signature(task.func).parameters) == ["context", outbox.id_argument]


def test_it_keeps_a_row_through_a_failure_a_retry_follows_and_forgets_it_on_the_last(smtp, caplog):
    smtp.mode = "5xx"
    row_id = signup_mail_queue(email="grace@example.org", registered=False)
    [job] = jobs(SIGNUP_TASK)
    assert (job["args"], job["queue_name"]) == ({"signup_mail_id": row_id}, "mail")

    with pytest.raises(smtplib.SMTPDataError):
        run_in_process(job, attempts=0)
    assert SignupMail.objects.filter(pk=row_id).exists()

    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="signup"),
        pytest.raises(smtplib.SMTPDataError),
    ):
        run_in_process(job, attempts=OUTSIDE_RETRY.max_attempts)
    assert not SignupMail.objects.filter(pk=row_id).exists()
    assert smtp.received == []
    # The row's id and the error's class: never the address.
    assert [r.getMessage() for r in caplog.records] == [
        f"Signup mail #{row_id} given up: SMTPDataError"
    ]


def test_it_deletes_the_row_with_the_send_so_a_repeated_job_sends_nothing(smtp):
    member = MemberFactory()
    row_id = email_change_mail_queue(member=member, email="new-address@example.org")
    [job] = jobs("members.tasks.send_email_change_mail")

    assert run_in_process(job) == "sent"
    assert not EmailChangeMail.objects.filter(pk=row_id).exists()
    assert [r.to for r in smtp.received] == [["new-address@example.org"]]

    assert run_in_process(job) == "gone"
    assert len(smtp.received) == 1
