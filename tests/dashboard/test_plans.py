"""The billing card reads a plan name wherever the level came from: the demo data and
the simulated payments create the plans they use (billing.Plan), so the webhook writes
the name, never the product id."""

import io

import pytest
from django.core.management import call_command

from billing.models import Plan
from members.models import Member
from tests.dashboard.test_dashboard import facts
from tests.factories import MemberFactory

SECRET = "whsec_plans_test"  # noqa: S105 - test data


def simulate(*args):
    call_command("stripe_simulate", *args, stdout=io.StringIO())


@pytest.mark.django_db
def test_seed_demo_puts_subscribed_members_on_a_named_plan(settings, tmp_path, monkeypatch):
    from members.management.commands import seed_demo

    settings.DEBUG = True
    monkeypatch.setattr(seed_demo, "ADMIN_PASSWORD_FILE", tmp_path / "admin.txt")
    call_command("seed_demo", stdout=io.StringIO())
    plans = dict(Plan.objects.values_list("stripe_product_id", "name"))
    assert plans["prod_demo_standard"] == "Standard membership"
    ada = Member.objects.get(username="active_ada")
    assert ada.status["membership_level"] == "Standard membership"
    assert plans[ada.status["stripe_product_id"]] == "Standard membership"
    assert ada.status["renewal_date"]


@pytest.mark.django_db
def test_stripe_simulate_creates_the_plan_it_uses_when_there_is_none(member_client, settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    member = MemberFactory(membership="pending", status={"membership_status": "pending"})
    simulate(member.email)
    [plan] = Plan.objects.all()
    status = Member.objects.get(pk=member.pk).status
    assert status["stripe_product_id"] == plan.stripe_product_id
    assert status["membership_level"] == plan.name == "Standard membership"
    content = member_client(member).get("/dashboard/").content.decode()
    assert facts(content)["Plan"] == "Standard membership"
    assert plan.stripe_product_id not in content


@pytest.mark.django_db
def test_stripe_simulate_names_a_product_given_without_a_plan(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    member = MemberFactory(membership="lapsed")
    simulate(member.email, "--product", "prod_Brand_new")
    assert Plan.objects.get(stripe_product_id="prod_Brand_new").name == "Simulated plan"
    assert Member.objects.get(pk=member.pk).status["membership_level"] == "Simulated plan"


@pytest.mark.django_db
def test_the_simulate_button_uses_a_named_plan(client, settings):
    settings.DEBUG = True
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    member = MemberFactory(membership="pending", status={"membership_status": "pending"})
    client.force_login(member.user)
    assert client.post("/billing/simulate/").status_code == 302
    assert Member.objects.get(pk=member.pk).status["membership_level"] == "Standard membership"
