"""manage.py stripe_simulate: signed events delivered to the webhook view."""

import io

import pytest
from django.core.management import CommandError, call_command

from billing.models import EventState, Plan, StripeEvent
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("stripe_simulate", *args, stdout=out)
    return out.getvalue()


def test_it_walks_a_member_through_checkout_subscription_and_invoice():
    Plan.objects.create(stripe_product_id="prod_Standard", name="Standard")
    member = MemberFactory(membership="lapsed")
    output = run(member.email)
    lines = output.splitlines()
    assert [line.split()[0] for line in lines] == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]
    assert all(" -> 200 " in line for line in lines)
    status = Member.objects.get(pk=member.pk).status
    assert status["membership_status"] == "active"
    assert status["membership_level"] == "Standard"
    assert status["subscription_status"] == "active"
    assert set(StripeEvent.objects.values_list("state", flat=True)) == {EventState.PROCESSED}


def test_it_sends_later_steps_for_the_members_existing_subscription():
    member = MemberFactory(membership="active")
    run(str(member.pk), "checkout", "active")
    subscription_id = Member.objects.get(pk=member.pk).status["stripe_subscription_id"]
    run(member.username, "past_due")
    status = Member.objects.get(pk=member.pk).status
    assert status["payment_problem"] is True
    assert status["stripe_subscription_id"] == subscription_id
    run(member.username, "canceled", "invoice_failed")
    status = Member.objects.get(pk=member.pk).status
    assert (status["membership_status"], status["subscription_status"]) == ("lapsed", "canceled")


def test_it_refuses_an_unknown_member():
    with pytest.raises(CommandError, match="No member"):
        run("nobody@example.org")
    assert StripeEvent.objects.count() == 0


def test_it_needs_a_checkout_before_a_member_has_a_subscription():
    member = MemberFactory(membership="pending")
    with pytest.raises(CommandError, match="checkout"):
        run(member.email, "past_due")
    assert StripeEvent.objects.count() == 0


def test_it_needs_the_webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    member = MemberFactory(membership="pending")
    with pytest.raises(CommandError, match="STRIPE_WEBHOOK_SECRET"):
        run(member.email)
    assert StripeEvent.objects.count() == 0


def test_it_refuses_an_unknown_step():
    member = MemberFactory(membership="pending")
    with pytest.raises(CommandError):
        run(member.email, "refund")
    assert StripeEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_delivers_over_http_to_a_running_site_with_url(live_server):
    member = MemberFactory(membership="lapsed")
    output = run(
        member.email, "checkout", "active", "--url", f"{live_server.url}/billing/stripe/webhook/"
    )
    assert [line.split(" -> ")[1][:3] for line in output.splitlines()] == ["200", "200"]
    assert Member.objects.get(pk=member.pk).membership_status == "active"


def test_it_reports_an_unreachable_url():
    member = MemberFactory(membership="pending")
    with pytest.raises(CommandError, match="Could not reach"):
        run(member.email, "--url", "http://127.0.0.1:9/billing/stripe/webhook/")
