import re

import pytest
from django.contrib import messages


@pytest.mark.django_db
def test_it_links_to_signup_and_login(client):
    body = client.get("/").content.decode()
    assert 'href="/signup/"' in body
    assert 'href="/accounts/login/"' in body


@pytest.mark.django_db
def test_it_loads_nothing_from_other_sites(client):
    body = client.get("/").content.decode()
    assert not re.search(r'(src|href)="(https?:)?//', body)


@pytest.mark.django_db
def test_it_is_laid_out_for_phones(client):
    assert 'name="viewport"' in client.get("/").content.decode()


@pytest.mark.django_db
def test_it_renders_messages_on_the_base_template(rf):
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    from dhportal.views import home

    request = rf.get("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    messages.success(request, "Saved <b>it</b>")
    body = home(request).content.decode()
    assert "Saved &lt;b&gt;it&lt;/b&gt;" in body


@pytest.mark.django_db
def test_it_sends_a_content_security_policy(client):
    assert "default-src 'self'" in client.get("/")["Content-Security-Policy"]


@pytest.mark.django_db
def test_it_points_a_signed_in_member_to_their_dashboard(client):
    from tests.factories import MemberFactory

    client.force_login(MemberFactory().user)
    body = client.get("/").content.decode()
    assert 'class="button" href="/dashboard/">Go to your dashboard</a>' in body
    assert 'href="/signup/"' not in body


@pytest.mark.django_db
def test_it_carries_the_site_name_not_the_project_name(client, settings):
    settings.SITE_NAME = "Harbor Makers"
    body = client.get("/").content.decode()
    assert "Join Harbor Makers" in body
    assert "dhportal" not in body
