import pytest

from tests.factories import MemberFactory


@pytest.mark.django_db
def test_it_asks_the_visitor_to_check_their_inbox(client):
    response = client.get("/signup/sent/")
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()


@pytest.mark.django_db
def test_it_sends_a_logged_in_user_to_the_dashboard(client):
    client.force_login(MemberFactory().user)
    response = client.get("/signup/sent/", follow=True)
    assert response.redirect_chain[0] == ("/dashboard/", 302)
    assert "already signed in" in response.content.decode()


@pytest.mark.django_db
def test_it_refuses_a_post(client):
    assert client.post("/signup/sent/").status_code == 405
