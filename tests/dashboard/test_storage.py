import pytest

from dashboard.views import UNKNOWN
from tests.dashboard.conftest import (
    assert_sends_a_banned_member_to_locked,
    assert_sends_to_login,
)
from tests.factories import MemberFactory


@pytest.mark.django_db
def test_it_shows_member_number_since_storage_and_forms(member_client):
    member = MemberFactory(
        extras={"storage_id": "S-14", "storage_area": "Wood shop"},
        forms={
            "id_check_1": "checked by Lin",
            "id_check_2": "",
            "id_check_date": "2026-01-20",
            "id_check_by": "lin",
            "terms_of_use_accepted": True,
            "terms_accepted_at": "2026-01-15T10:00:00+00:00",
            "orientation_completed_date": "2026-02-01",
            "waiver_signed_date": None,
        },
    )
    content = member_client(member).get("/dashboard/storage/").content.decode()
    assert f"Member number</dt><dd>{member.pk}</dd>" in content
    assert "Member since</dt><dd>15 January 2026" in content
    assert "Storage id</dt><dd>S-14" in content
    assert "Storage area</dt><dd>Wood shop" in content
    assert "ID check 1</dt><dd>checked by Lin" in content
    assert "ID check 2</dt><dd>not yet" in content
    assert "ID checked on</dt><dd>20 January 2026" in content
    assert "ID checked by</dt><dd>lin" in content
    assert "Terms of use accepted</dt><dd>yes (15 January 2026)" in content
    assert "Orientation completed</dt><dd>1 February 2026" in content
    assert "Waiver signed</dt><dd>not yet" in content


@pytest.mark.django_db
def test_it_shows_unknown_for_wrong_typed_values_and_not_yet_for_missing_ones(member_client):
    member = MemberFactory(
        extras={"storage_id": ["S-14"]},
        forms={"id_check_date": "last week", "terms_of_use_accepted": "yes"},
    )
    content = member_client(member).get("/dashboard/storage/").content.decode()
    assert f"Storage id</dt><dd>{UNKNOWN}" in content
    assert "Storage area</dt><dd>none assigned" in content
    assert f"ID checked on</dt><dd>{UNKNOWN}" in content
    assert "ID checked by</dt><dd>not yet" in content
    assert f"Terms of use accepted</dt><dd>{UNKNOWN}" in content


@pytest.mark.django_db
def test_it_says_none_assigned_when_there_is_no_storage(member_client):
    content = member_client(MemberFactory()).get("/dashboard/storage/").content.decode()
    assert "Storage id</dt><dd>none assigned" in content


@pytest.mark.django_db
def test_it_shows_unknown_for_null_columns(member_client):
    member = MemberFactory(extras=None, forms=None, status=None)
    response = member_client(member).get("/dashboard/storage/")
    assert response.status_code == 200
    content = response.content.decode()
    for label in ("Member since", "Storage id", "Storage area", "ID check 1", "Waiver signed"):
        assert f"{label}</dt><dd>{UNKNOWN}" in content


@pytest.mark.django_db
def test_it_sends_a_banned_member_to_the_locked_page(member_client):
    assert_sends_a_banned_member_to_locked(member_client, "/dashboard/storage/")


@pytest.mark.django_db
def test_it_sends_an_anonymous_visitor_to_login(client):
    assert_sends_to_login(client, "/dashboard/storage/")
