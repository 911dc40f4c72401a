"""allauth's client admin, with the client's policy on its page and in its list."""

import pytest
from allauth.idp.oidc.models import Client

from identity.models import ClientPolicy
from members.models import Authorization
from tests.factories import StaffFactory, logged_in
from tests.identity.conftest import register
from tests.staff.formdata import form_fields

pytestmark = pytest.mark.django_db

ADD = "/admin/allauth_idp_oidc/client/add/"


@pytest.fixture
def as_superuser():
    return logged_in(StaffFactory())


def test_staff_add_a_client_with_its_policy_and_see_the_secret_once(as_superuser):
    Authorization.objects.create(name="Laser")
    page = as_superuser.get(ADD)
    assert page.status_code == 200
    data, _ = form_fields(page.content.decode(), "client_form")
    data["name"] = "Forum"
    data["redirect_uris"] = "https://forum.example.org/auth/oidc/callback"
    data["scopes"] = "openid\nemail\nprofile\nmembership"
    data["grant_types"] = "authorization_code\nrefresh_token"
    data.setlist("policy-0-statuses", ["active", "lapsed"])
    data.setlist("policy-0-requires", ["Laser"])
    data["_save"] = "Save"
    answer = as_superuser.post(ADD, {name: data.getlist(name) for name in data}, follow=True)
    assert answer.status_code == 200
    client = Client.objects.get(name="Forum")
    assert (client.policy.statuses, client.policy.requires) == (["active", "lapsed"], ["Laser"])
    assert "The client secret is only shown once" in answer.content.decode()


def test_the_list_says_who_may_log_in_to_each_client(as_superuser):
    register("Wiki", statuses=["active", "lapsed"])
    bare = Client.objects.create(name="Old", redirect_uris="https://old.example.org/cb")
    assert not ClientPolicy.objects.filter(client=bare).exists()
    page = as_superuser.get("/admin/allauth_idp_oidc/client/").content.decode()
    assert "statuses active, lapsed; requires nothing" in page
    # A client without a policy row gets the defaults, and the list says so.
    assert "statuses active; requires nothing" in page
