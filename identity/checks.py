"""System checks for the provider's signing key: `check --deploy` says when the
provider is off, and any check refuses a key that is not an RSA private key."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

NO_KEY = Warning(
    "IDP_OIDC_PRIVATE_KEY is not set: the identity provider is off (discovery answers 404),"
    " so members cannot log in to the space's other systems with the portal.",
    hint="Set it to an RSA private key in PEM form (README: 'Log in to other systems"
    " with the portal').",
    id="identity.W001",
)


def key_problem(pem: str) -> str | None:
    """Why `pem` cannot sign ID tokens, or None."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        return f"it is not a PEM private key without a password ({error})"
    if not isinstance(key, rsa.RSAPrivateKey):
        return "it is not an RSA key (ID tokens are signed with RS256)"
    if key.key_size < 2048:
        return f"it is an RSA key of {key.key_size} bits; 2048 at least"
    return None


@register(Tags.security)
def signing_key_check(app_configs, **kwargs):
    pem = settings.IDP_OIDC_PRIVATE_KEY
    problem = key_problem(pem) if pem else None
    if problem is None:
        return []
    return [
        Error(
            f"IDP_OIDC_PRIVATE_KEY cannot sign ID tokens: {problem}.",
            hint="An env file may hold the PEM on one line with its line breaks written as \\n.",
            id="identity.E001",
        )
    ]


@register(Tags.security, deploy=True)
def provider_on_check(app_configs, **kwargs):
    return [] if settings.IDP_OIDC_PRIVATE_KEY else [NO_KEY]
