"""The dashboard's menu reaches every member page and marks the current one; pages and
mails greet the member by their preferred name."""

import re

import pytest

from members.notifications import greeting_name
from tests.dashboard.conftest import ALL_URLS
from tests.factories import MemberFactory

PRIVACY_URL = "/dashboard/privacy/"
MENU_URLS = [*ALL_URLS, PRIVACY_URL]


def _menu(content: str) -> str:
    return re.search(r'<nav class="dashboard-nav".*?</nav>', content, re.S).group(0)


def _with_names(*, nickname="", first_name="Walker"):
    member = MemberFactory()
    member.identity.update(nickname=nickname, first_name=first_name, last_name="Tester")
    member.save()
    return member


@pytest.mark.django_db
@pytest.mark.parametrize("url", MENU_URLS)
def test_it_links_every_member_page_and_marks_the_current_one(member_client, url):
    menu = _menu(member_client(MemberFactory()).get(url).content.decode())
    for page in MENU_URLS:
        assert f'href="{page}"' in menu, page
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', menu)
    assert current == [url]


@pytest.mark.django_db
def test_it_offers_a_banned_member_only_the_pages_they_can_reach(member_client):
    banned = member_client(MemberFactory(membership="banned"))
    menu = _menu(banned.get(PRIVACY_URL).content.decode())
    assert re.findall(r'href="([^"]+)"', menu) == ["/dashboard/locked/", PRIVACY_URL]


@pytest.mark.django_db
def test_it_greets_by_the_preferred_name_when_set(member_client):
    member = _with_names(nickname="Walks")
    content = member_client(member).get("/dashboard/").content.decode()
    assert "<h1>Hello, Walks</h1>" in content
    assert greeting_name(member) == "Walks"


@pytest.mark.django_db
def test_it_greets_by_the_first_name_without_a_preferred_name(member_client):
    member = _with_names(nickname="  ")
    content = member_client(member).get("/dashboard/").content.decode()
    assert "<h1>Hello, Walker</h1>" in content
    assert greeting_name(member) == "Walker"


@pytest.mark.django_db
def test_it_falls_back_to_the_record_name_without_a_first_or_preferred_name(member_client):
    member = _with_names(first_name="")
    member.username = "wtester"
    member.save()
    content = member_client(member).get("/dashboard/").content.decode()
    assert "<h1>Hello, Tester</h1>" in content  # the last name, rather than nothing
    assert greeting_name(member) == "wtester"
