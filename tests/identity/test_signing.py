"""The signing key is parsed once per process (identity/apps.py): ID tokens signed after
the first reuse it, and a second key (a rotation) is parsed on its own."""

from allauth.core.internal import jwkkit
from django.conf import settings

from identity.checks import key_problem


def test_it_parses_each_signing_key_once_and_tells_two_keys_apart():
    first = jwkkit.load_jwk_from_pem(settings.IDP_OIDC_PRIVATE_KEY)
    assert jwkkit.load_jwk_from_pem(settings.IDP_OIDC_PRIVATE_KEY)[1] is first[1]

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    assert key_problem(other) is None
    assert jwkkit.load_jwk_from_pem(other)[0]["kid"] != first[0]["kid"]
