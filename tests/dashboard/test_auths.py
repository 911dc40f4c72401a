import pytest

from dashboard.views import UNKNOWN
from tests.dashboard.conftest import (
    assert_sends_a_banned_member_to_locked,
    assert_sends_to_login,
)
from tests.factories import MemberFactory


@pytest.mark.django_db
def test_it_lists_physical_and_computer_authorizations(member_client):
    member = MemberFactory(
        authorizations={
            "authorizations": ["Laser cutter", "Lathe"],
            "computer_authorizations": ["3D printer queue"],
        }
    )
    content = member_client(member).get("/dashboard/auths/").content.decode()
    for name in ("Laser cutter", "Lathe", "3D printer queue"):
        assert f'<span class="grant-name">{name}</span>' in content


@pytest.mark.django_db
def test_it_says_none_yet_for_empty_lists(member_client):
    content = member_client(MemberFactory()).get("/dashboard/auths/").content.decode()
    assert content.count("<li>None yet.</li>") == 2


@pytest.mark.django_db
def test_it_shows_unknown_for_a_null_column(member_client):
    member = MemberFactory(authorizations=None)
    response = member_client(member).get("/dashboard/auths/")
    assert response.status_code == 200
    assert response.content.decode().count(UNKNOWN) == 2


@pytest.mark.django_db
def test_it_sends_a_banned_member_to_the_locked_page(member_client):
    assert_sends_a_banned_member_to_locked(member_client, "/dashboard/auths/")


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_to_login(client):
    assert_sends_to_login(client, "/dashboard/auths/")


@pytest.mark.django_db
def test_it_shows_each_tools_date_grantor_and_expiry(member_client):
    import datetime

    from members.grants import authorization_grant
    from members.models import Authorization, AuthorizationKind
    from tests.factories import StaffFactory

    trainer = StaffFactory(first_name="Grace", last_name="Hopper")
    laser = Authorization.objects.create(name="Laser cutter")
    wiki = Authorization.objects.create(name="Wiki", kind=AuthorizationKind.COMPUTER)
    member = MemberFactory()
    expires = datetime.date(2099, 3, 1)
    authorization_grant(member_id=member.pk, authorization=laser, by=trainer, expires_on=expires)
    authorization_grant(member_id=member.pk, authorization=wiki, by=None, source="import")
    content = member_client(member).get("/dashboard/auths/").content.decode()
    laser_line = content[content.index("Laser cutter") :].split("</li>")[0]
    assert "by Grace Hopper" in laser_line and "expires 1 March 2099" in laser_line
    wiki_line = content[content.index(">Wiki<") :].split("</li>")[0]
    assert "import from the old system" in wiki_line and "does not expire" in wiki_line
