"""Lifecycle notifications (README, "Mail to members"): which transition is due which
mail, queued once per cause with its send job in the same transaction, rendered and sent
by the job (run here in process; tests/jobs/ run the real worker), SMTP trouble recorded
and retried, the admin's list and resend, and throttled invitations."""

import datetime
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone

from dhportal.jobs import OUTSIDE_RETRY
from members.audit import audit
from members.models import Member, Notification, NotificationKind, NotificationState
from members.notifications import kind_for, notification_create
from members.services import member_activate, member_change_login, members_repair
from tests.billing.stripe_events import SECRET, T0, checkout_for, deliver, stripe_event
from tests.factories import (
    DEFAULT_PASSWORD,
    MemberFactory,
    StaffFactory,
    UserFactory,
    logged_in,
)
from tests.jobs import SEND_TASK, deliver_in_process, jobs, run_in_process
from tests.signup.conftest import valid_details

pytestmark = pytest.mark.django_db

K = NotificationKind


def status(membership, subscription="", problem=False):
    return {
        "membership_status": membership,
        "subscription_status": subscription,
        "payment_problem": problem,
    }


@pytest.mark.parametrize(
    ("before", "after", "stripe", "kind"),
    [
        # payment_received: a pending member's subscription first pays
        (status("pending"), status("pending", "active"), True, K.PAYMENT_RECEIVED),
        (status("pending", "incomplete"), status("pending", "trialing"), True, K.PAYMENT_RECEIVED),
        (status("pending", "active"), status("pending", "active"), True, None),
        (status("pending", "past_due", True), status("pending", "active"), True, None),
        (status("active"), status("active", "active"), True, None),
        # payment_problem: turns true on a subscription that was paying
        (status("active", "active"), status("active", "past_due", True), True, K.PAYMENT_PROBLEM),
        (
            status("active", "past_due", True),
            status("active", "past_due", True),
            True,
            None,
        ),
        # a new member's failed first invoice: incomplete, never a payment problem
        (status("pending", "incomplete"), status("pending", "incomplete"), True, None),
        (status("pending", "incomplete"), status("pending", "past_due", True), True, None),
        # lapsed and reactivated
        (status("active", "active"), status("lapsed", "canceled"), True, K.LAPSED),
        (status("active", "past_due", True), status("lapsed", "unpaid", True), True, K.LAPSED),
        (status("Active", "active"), status("lapsed", "canceled"), False, K.LAPSED),
        (status("lapsed", "canceled"), status("active", "active"), True, K.REACTIVATED),
        (status("lapsed", "canceled"), status("active", "active"), False, None),
        (status("lapsed"), status("lapsed"), True, None),
        # staff decisions are never mailed
        (status("active"), status("banned"), False, None),
        (status("active", "active"), status("suspended", "past_due", True), True, None),
        # unreadable columns
        (None, None, True, None),
        (None, status("pending", "active"), True, None),
        ("not an object", status("lapsed"), True, None),
    ],
)
def test_it_decides_the_kind_of_each_transition(before, after, stripe, kind):
    assert kind_for(before, after, through_stripe=stripe) == kind


def named(member, first_name):
    member.identity = {**member.identity, "first_name": first_name}
    member.save(update_fields=["identity"])
    return member


def _create(member, kind=K.LAPSED, key="evt_1"):
    with transaction.atomic():
        return notification_create(member=member, kind=kind, key=key)


def test_it_queues_the_notification_and_a_job_carrying_only_its_id():
    member = MemberFactory()
    notification_id = _create(member)

    notification = Notification.objects.get(pk=notification_id)
    assert (notification.member, notification.kind, notification.key) == (member, "lapsed", "evt_1")
    assert notification.state == NotificationState.QUEUED
    assert notification.attempts == 0
    assert [(j["args"], j["queue_name"]) for j in jobs()] == [
        ({"notification_id": notification_id}, "mail")
    ]


def test_it_queues_each_cause_once_and_a_new_cause_again():
    member = MemberFactory()
    first = _create(member, key="evt_1")
    assert _create(member, key="evt_1") is None  # Stripe redelivers the event
    later = _create(member, key="evt_2")  # a second lapse, a year later

    assert first and later and first != later
    assert Notification.objects.filter(member=member).count() == 2
    assert len(jobs()) == 2


@pytest.mark.parametrize("membership", ["banned", "suspended", " Banned "])
def test_it_never_queues_for_banned_or_suspended_members(membership):
    member = MemberFactory(membership=membership)
    assert _create(member, kind=K.ACTIVATED) is None
    assert not Notification.objects.exists()
    assert jobs() == []


def test_it_sends_plain_text_and_html_with_the_site_name_and_links(settings):
    settings.SITE_NAME = "Harbor Space"
    settings.SITE_URL = "https://members.example.org"
    settings.SITE_ADDRESS = "12 Dock Street, Thursdays 7pm"
    member = named(MemberFactory(membership="pending"), "Grace")
    notification_id = _create(member, kind=K.PAYMENT_RECEIVED)

    assert run_in_process(jobs()[0]) == "sent"

    [message] = mail.outbox
    assert message.to == [member.email]
    assert "Harbor Space" in message.body or "Harbor Space" in message.subject
    assert "Hello Grace," in message.body
    assert "12 Dock Street, Thursdays 7pm" in message.body
    assert "photo ID" in message.body
    assert "https://members.example.org/dashboard/" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert 'href="https://members.example.org/dashboard/"' in html
    notification = Notification.objects.get(pk=notification_id)
    assert notification.state == NotificationState.SENT
    assert notification.attempts == 1
    assert notification.sent_at is not None

    # The same job run again (a retry after a crash past the commit) sends nothing.
    assert run_in_process(jobs()[0]) == "already sent"
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("kind", K.values)
def test_it_renders_every_kind(kind, settings):
    settings.STRIPE_CUSTOMER_PORTAL_URL = "https://billing.example.org/p/login/x"
    user = UserFactory(last_login=None)
    member = named(MemberFactory(user=user, legacy_id=7), "<b>Ada</b>")
    _create(member, kind=kind)

    assert run_in_process(jobs()[0]) == "sent"

    [message] = mail.outbox
    assert "Hello <b>Ada</b>," in message.body  # plain text is not HTML
    html = message.alternatives[0][0]
    assert "&lt;b&gt;Ada&lt;/b&gt;" in html and "<b>Ada</b>" not in html
    assert "Hackerspace" in message.subject + message.body
    if kind == K.PAYMENT_PROBLEM:
        assert "https://billing.example.org/p/login/x" in message.body


def test_it_does_not_mail_a_member_banned_after_the_notification_was_queued():
    member = MemberFactory()
    notification_id = _create(member, kind=K.ACTIVATED)
    member.status = {**member.status, "membership_status": "banned"}
    member.save(update_fields=["status"])

    assert run_in_process(jobs()[0]) == "not sendable"

    assert mail.outbox == []
    notification = Notification.objects.get(pk=notification_id)
    assert notification.state == NotificationState.FAILED
    assert "banned" in notification.error


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("4xx", "451 4.3.0 Mail server busy"),
        ("5xx", "554 5.3.0 Message refused"),
        ("hold", "timed out"),
        ("refused", "ConnectionRefusedError"),
    ],
)
def test_it_raises_on_smtp_trouble_so_the_job_retries_and_keeps_the_error(smtp, mode, error):
    member = MemberFactory()
    notification_id = _create(member)
    if mode == "refused":
        smtp.stop()
    else:
        smtp.mode = mode

    with pytest.raises(Exception):  # noqa: B017 - whatever the trouble, the job fails
        run_in_process(jobs()[0], attempts=0)

    notification = Notification.objects.get(pk=notification_id)
    assert notification.state == NotificationState.QUEUED  # a retry follows
    assert notification.attempts == 1
    assert error in notification.error
    assert smtp.received == []

    # The last attempt the retry policy allows leaves it failed for staff.
    with pytest.raises(Exception):  # noqa: B017
        run_in_process(jobs()[0], attempts=OUTSIDE_RETRY.max_attempts)
    notification.refresh_from_db()
    assert notification.state == NotificationState.FAILED
    assert notification.attempts == 2


def test_it_sends_through_smtp_when_the_server_accepts(smtp):
    member = MemberFactory()
    _create(member)

    assert run_in_process(jobs()[0]) == "sent"

    [received] = smtp.received
    assert received.to == [member.email]
    assert "membership has ended" in received.part("text/plain")
    assert "<p>" in received.part("text/html")


# --- admin -----------------------------------------------------------------------------


def test_it_lists_notifications_with_kind_state_and_error_and_filters():
    failed = Notification.objects.create(
        member=MemberFactory(), kind=K.LAPSED, key="evt_a", state="failed", error="SMTP 451 busy"
    )
    Notification.objects.create(member=MemberFactory(), kind=K.ACTIVATED, key="42", state="sent")
    admin = logged_in(StaffFactory())

    page = admin.get("/admin/members/notification/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "SMTP 451 busy" in text and "Lapsed" in text and "Activated" in text

    only_failed = admin.get("/admin/members/notification/?state__exact=failed&kind__exact=lapsed")
    assert only_failed.status_code == 200
    assert list(only_failed.context["cl"].result_list) == [failed]
    assert admin.get(f"/admin/members/notification/{failed.pk}/change/").status_code == 200


def test_it_resends_failed_notifications_only_from_admin():
    failed = Notification.objects.create(
        member=MemberFactory(), kind=K.LAPSED, key="evt_a", state="failed", error="busy"
    )
    sent = Notification.objects.create(
        member=MemberFactory(), kind=K.LAPSED, key="evt_b", state="sent"
    )
    admin = logged_in(StaffFactory())

    response = admin.post(
        "/admin/members/notification/",
        {"action": "resend", "_selected_action": [failed.pk, sent.pk]},
        follow=True,
    )

    assert "Queued 1 notifications again. 1 were not failed" in response.content.decode()
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.state, sent.state) == ("queued", "sent")
    assert [j["args"] for j in jobs()] == [{"notification_id": failed.pk}]


# --- invitations -----------------------------------------------------------------------


def imported_member(**kwargs):
    """An imported member as the import leaves them: a login never used, with an
    unusable password and an unverified primary address."""
    user = UserFactory(last_login=None, password="!unusable", verified_address=False)
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    return MemberFactory(user=user, legacy_id=kwargs.pop("legacy_id", 1001), **kwargs)


def _invite(admin, *members):
    return admin.post(
        "/admin/members/member/",
        {"action": "invite_members", "_selected_action": [m.pk for m in members]},
        follow=True,
    )


def test_it_invites_imported_members_at_most_once_a_week():
    staff = StaffFactory()
    admin = logged_in(staff)
    member = imported_member()
    signed_up = MemberFactory()  # not imported
    used = imported_member(legacy_id=1002)
    used.user.last_login = timezone.now()
    used.user.save(update_fields=["last_login"])

    response = _invite(admin, member, signed_up, used)
    assert "Invited 1 members." in response.content.decode()
    assert "2 are not imported members" in response.content.decode()
    invitation = Notification.objects.get()
    assert (invitation.member, invitation.kind) == (member, K.INVITATION)
    assert invitation.key.startswith("log:")
    assert len(jobs()) == 1

    response = _invite(admin, member)
    assert "1 were invited in the last week" in response.content.decode()
    assert Notification.objects.count() == 1

    # A week later staff may invite again.
    Notification.objects.update(created_at=timezone.now() - datetime.timedelta(days=8))
    _invite(admin, member)
    assert Notification.objects.filter(member=member, kind=K.INVITATION).count() == 2
    assert len(jobs()) == 2


def _set_password_from_the_invitation(client, password: str):
    """Open the mailed invitation link as its reader would and post a new password;
    returns the answer to that post."""
    [message] = mail.outbox
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", message.body)
    assert link, message.body
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    set_password_path = form.redirect_chain[-1][0] if form.redirect_chain else link.group(1)
    return client.post(set_password_path, {"password1": password, "password2": password})


def test_it_mails_an_invitation_link_that_sets_the_password_and_verifies_the_address(
    settings, client
):
    settings.SITE_URL = "http://testserver"
    member = imported_member()
    _invite(logged_in(StaffFactory()), member)

    run_in_process(jobs()[0])

    done = _set_password_from_the_invitation(client, "a-new-harbor-pass-7")
    assert done.status_code == 302

    member.user.refresh_from_db()
    assert member.user.check_password("a-new-harbor-pass-7")
    assert EmailAddress.objects.get(user=member.user).verified is True
    # The link works once.
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[0].body)
    assert client.get(link.group(1), follow=True).context.get("token_fail") is True


def test_it_completes_the_reset_when_another_login_holds_the_address_verified(settings, client):
    settings.SITE_URL = "http://testserver"
    member = imported_member()
    # Another login proved it reads mail at this address first (a secondary address).
    other = UserFactory()
    EmailAddress.objects.create(user=other, email=member.email, verified=True, primary=False)
    _invite(logged_in(StaffFactory()), member)
    run_in_process(jobs()[0])

    done = _set_password_from_the_invitation(client, "a-new-harbor-pass-7")

    assert done.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password("a-new-harbor-pass-7")
    other.refresh_from_db()
    assert other.check_password(DEFAULT_PASSWORD)
    # Verified it stays for the login that proved it first; the invited login's copy
    # stays unverified, for staff to sort out.
    holders = EmailAddress.objects.filter(email=member.email).values_list("user", "verified")
    assert sorted(holders) == sorted([(member.user.pk, False), (other.pk, True)])
    assert EmailAddress.objects.get(user=other, email=other.email).verified is True


# --- the whole life, through the webhook, activation and signup -------------------------


def _kinds(member):
    return sorted(Notification.objects.filter(member=member).values_list("kind", flat=True))


def _deliver_times(client, event, times=3):
    for _ in range(times):
        assert deliver(client, event).status_code == 200


def test_it_mails_each_transition_of_a_membership_once(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.SITE_URL = "http://testserver"
    browser, stripe = Client(), Client()

    # Signup: step 1's mail is a job too.
    assert browser.post("/signup/", {"email": "grace@example.org"}).status_code == 302
    assert mail.outbox == []
    deliver_in_process("signup.tasks.send_signup_mail")
    link = re.search(r"http://testserver(/signup/continue/[^/\s]+/)", mail.outbox[-1].body)
    assert browser.post(link.group(1), valid_details()).status_code == 302
    member = Member.objects.get(email="grace@example.org")
    mail.outbox.clear()

    # Checkout and the active subscription, each delivered three times.
    checkout = checkout_for(member, customer="cus_G", sub_id="sub_G1")
    active = stripe_event(
        "customer.subscription.created", sub_id="sub_G1", customer="cus_G", created=T0
    )
    _deliver_times(stripe, checkout)
    _deliver_times(stripe, active)
    assert _kinds(member) == [K.PAYMENT_RECEIVED]

    # Staff activate after onboarding; a second activation changes nothing.
    staff = StaffFactory()
    for _ in range(2):
        member_activate(
            member_id=member.pk,
            by=staff,
            id_checked_on=datetime.date(2026, 3, 1),
            id_checked_by=staff,
            waiver_signed_on=datetime.date(2026, 3, 1),
            orientation_completed_on=datetime.date(2026, 3, 1),
        )
    assert _kinds(member) == [K.ACTIVATED, K.PAYMENT_RECEIVED]

    # past_due twice (a redelivery and a later event): one payment problem.
    past_due = stripe_event(
        "customer.subscription.updated", sub_id="sub_G1", customer="cus_G", created=T0 + 10
    )
    _deliver_times(stripe, past_due, 2)
    again = stripe_event(
        "customer.subscription.updated", sub_id="sub_G1", customer="cus_G", created=T0 + 20
    )
    _deliver_times(stripe, again, 1)
    assert _kinds(member).count(K.PAYMENT_PROBLEM) == 1

    # Canceled: one lapsed.
    canceled = stripe_event(
        "customer.subscription.deleted", sub_id="sub_G1", customer="cus_G", created=T0 + 30
    )
    _deliver_times(stripe, canceled, 2)
    assert _kinds(member).count(K.LAPSED) == 1

    # Back through Stripe with a new subscription: one reactivated.
    _deliver_times(stripe, checkout_for(member, customer="cus_G", sub_id="sub_G2"), 2)
    resumed = stripe_event(
        "customer.subscription.resumed", sub_id="sub_G2", customer="cus_G", created=T0 + 40
    )
    _deliver_times(stripe, resumed, 2)
    assert Member.objects.get(pk=member.pk).membership_status == "active"
    assert _kinds(member) == sorted(
        [K.PAYMENT_RECEIVED, K.ACTIVATED, K.PAYMENT_PROBLEM, K.LAPSED, K.REACTIVATED]
    )

    # Each is mailed once by its job.
    deliver_in_process(SEND_TASK)
    assert len(mail.outbox) == 5
    assert all(m.to == ["grace@example.org"] for m in mail.outbox)
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}


@pytest.mark.parametrize("membership", ["banned", "suspended"])
def test_it_mails_nothing_to_banned_or_suspended_members_whatever_stripe_says(settings, membership):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    member = MemberFactory(membership=membership)
    stripe = Client()
    _deliver_times(stripe, checkout_for(member, customer="cus_B", sub_id="sub_B"), 1)
    for n, name in enumerate(
        ["customer.subscription.created", "customer.subscription.updated"]
        + ["customer.subscription.deleted"]
    ):
        event = stripe_event(name, sub_id="sub_B", customer="cus_B", created=T0 + n)
        _deliver_times(stripe, event, 1)

    assert Member.objects.get(pk=member.pk).membership_status == membership
    assert not Notification.objects.exists()
    assert jobs() == []


def test_it_mails_a_staff_edit_that_ends_a_membership_once():
    member, staff = MemberFactory(), StaffFactory()
    for _ in range(2):  # saved twice: one flip
        member.status = {**member.status, "membership_status": "lapsed"}
        with audit("staff", staff):
            member_change_login(
                member=member,
                email=member.email,
                username=member.username,
                by=staff,
                fields=["status"],
            )
    assert _kinds(member) == [K.LAPSED]
    assert len(jobs()) == 1


def test_it_creates_none_for_a_repair():
    member = MemberFactory(status=None)
    with audit("repair"):
        members_repair(queryset=Member.objects.filter(pk=member.pk))
    assert Member.objects.get(pk=member.pk).membership_status == "pending"
    assert not Notification.objects.exists()
    assert jobs() == []
