import functools

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Identity"

    def ready(self):
        # identity's answers to members' hooks (export, erasure), and the checks that
        # say whether the provider has its signing key.
        from allauth.core.internal import jwkkit

        from identity import checks, receivers  # noqa: F401

        # allauth parses the signing key from its PEM for every ID token it signs and
        # every JWKS it serves, and cryptography checks an RSA key as it loads it: tens
        # of milliseconds each time, most of a refresh's cost (bench/identity.py). A
        # PEM always gives the same key, so each process parses each one once; its
        # callers only read what it returns.
        if not hasattr(jwkkit.load_jwk_from_pem, "cache_info"):
            jwkkit.load_jwk_from_pem = functools.lru_cache(maxsize=8)(jwkkit.load_jwk_from_pem)
