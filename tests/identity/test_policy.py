"""Who may log in to which client (identity.ClientPolicy): an ineligible member is sent
back to the client with access_denied and its state, and nothing is issued."""

import pytest
from allauth.idp.oidc.models import Token
from django.utils import timezone

from members.models import Authorization, ErasureRequest, Member
from tests.factories import MemberFactory, StaffFactory, logged_in
from tests.identity.conftest import WIKI_CALLBACK, register
from tests.identity.flow import authorize_url, code_for, exchange, query

pytestmark = pytest.mark.django_db


def _denied(response, state="st4te-42"):
    assert response.status_code == 302, response.content[:300]
    location = response["Location"]
    assert location.startswith(WIKI_CALLBACK + "?")
    return query(location) == {"error": "access_denied", "state": state}


@pytest.mark.parametrize("membership", ["pending", "lapsed", "suspended", "banned"])
def test_it_sends_a_member_who_is_not_active_back_with_access_denied(membership):
    client, _ = register()
    member = MemberFactory(membership=membership)
    assert _denied(logged_in(member.user).get(authorize_url(client)))
    assert Token.objects.count() == 0


def test_it_shows_an_active_member_the_consent_page():
    client, _ = register()
    response = logged_in(MemberFactory().user).get(authorize_url(client))
    assert response.status_code == 200
    assert b"Log in to Wiki" in response.content


def test_it_lets_in_the_statuses_a_policy_allows_read_as_the_shapes_read_them():
    client, _ = register(statuses=["active", "lapsed"])
    lapsed = MemberFactory(membership=" Lapsed ")
    assert logged_in(lapsed.user).get(authorize_url(client)).status_code == 200
    suspended = MemberFactory(membership="suspended")
    assert _denied(logged_in(suspended.user).get(authorize_url(client)))


def test_it_requires_every_authorization_a_policy_names():
    Authorization.objects.create(name="Laser")
    Authorization.objects.create(name="Wiki editor")
    client, _ = register(requires=["Laser", "Wiki editor"])
    both = MemberFactory(
        authorizations={"authorizations": ["Laser"], "computer_authorizations": ["Wiki editor"]}
    )
    one = MemberFactory(authorizations={"authorizations": ["Laser"], "computer_authorizations": []})
    damaged = MemberFactory(authorizations={"authorizations": "Laser, Wiki editor"})
    assert logged_in(both.user).get(authorize_url(client)).status_code == 200
    assert _denied(logged_in(one.user).get(authorize_url(client)))
    assert _denied(logged_in(damaged.user).get(authorize_url(client)))


def test_it_refuses_a_merged_away_record_an_erased_member_and_a_login_without_member():
    client, _ = register()
    survivor = MemberFactory()
    merged = MemberFactory(merged_into=survivor)
    erased = MemberFactory()
    ErasureRequest.objects.create(member=erased, erased_at=timezone.now())
    for user in (merged.user, erased.user, StaffFactory()):
        assert _denied(logged_in(user).get(authorize_url(client)))
    assert Token.objects.count() == 0


def test_it_issues_nothing_to_an_ineligible_member_of_a_client_that_skips_consent():
    client, _ = register(skip_consent=True)
    member = MemberFactory(membership="lapsed")
    assert _denied(logged_in(member.user).get(authorize_url(client, prompt="none")))
    assert _denied(logged_in(member.user).get(authorize_url(client)))
    assert Token.objects.count() == 0


def test_it_asks_again_when_the_member_presses_allow():
    client, _ = register()
    member = MemberFactory()
    http = logged_in(member.user)
    page = http.get(authorize_url(client))
    assert page.status_code == 200
    Member.objects.filter(pk=member.pk).update(status={"membership_status": "suspended"})

    form = page.context["form"]
    answer = http.post(
        "/identity/o/authorize",
        {"request": form.initial["request"], "scopes": ["openid"], "action": "grant"},
    )
    assert _denied(answer)
    assert Token.objects.count() == 0


def test_it_refuses_a_code_whose_member_lapsed_before_the_exchange():
    client, secret = register(skip_consent=True)
    member = MemberFactory()
    code = code_for(logged_in(member.user), client)
    assert Token.objects.filter(type=Token.Type.AUTHORIZATION_CODE).count() == 1
    # Inside this test's transaction, which never commits, the revocation trigger (run at
    # commit) does not delete the code: the exchange asks the policy itself.
    Member.objects.filter(pk=member.pk).update(status={"membership_status": "lapsed"})
    answer = exchange(client, secret, code)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert Token.objects.count() == 0


def test_it_shows_a_request_it_cannot_trust_on_its_own_page_instead_of_redirecting():
    client, _ = register()
    member = MemberFactory(membership="lapsed")
    url = authorize_url(client).replace("oidc%2Fcallback", "elsewhere")
    response = logged_in(member.user).get(url)
    assert response.status_code == 200
    assert b"Cannot log you in there" in response.content
