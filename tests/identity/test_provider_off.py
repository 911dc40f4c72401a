"""Without IDP_OIDC_PRIVATE_KEY the provider is off: its pages answer 404 and
`check --deploy` says so; a key that cannot sign is refused by every check."""

import pytest

from tests.test_deploy_check import check_deploy, issue_ids

PAGES = [
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
    "/identity/o/authorize?client_id=x",
    "/identity/o/logout",
    "/identity/o/api/userinfo",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_404_without_a_signing_key(client, settings, path):
    assert client.get(path).status_code != 404
    settings.IDP_OIDC_PRIVATE_KEY = ""
    assert client.get(path).status_code == 404
    assert client.post("/identity/o/api/token", {"grant_type": "refresh_token"}).status_code == 404


def test_the_deploy_check_says_the_provider_is_off_without_a_key():
    result = check_deploy(IDP_OIDC_PRIVATE_KEY="")
    assert "identity.W001" in issue_ids(result)
    assert "the identity provider is off" in result.stderr + result.stdout


def test_the_deploy_check_is_quiet_about_it_with_a_key(settings):
    result = check_deploy(IDP_OIDC_PRIVATE_KEY=settings.IDP_OIDC_PRIVATE_KEY.replace("\n", "\\n"))
    assert result.returncode == 0, result.stderr
    assert "identity.W001" not in issue_ids(result)


def test_every_check_refuses_a_key_that_cannot_sign():
    result = check_deploy(IDP_OIDC_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\\nnot a key\\n")
    assert result.returncode != 0
    assert "identity.E001" in issue_ids(result)
