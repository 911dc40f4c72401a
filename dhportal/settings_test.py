"""Test settings: the real settings plus the few speed-ups tests may have.

The password hasher is deliberately left at Django's default; factories store a
precomputed hash instead (tests/factories.py).
"""

import os

os.environ.setdefault("SECRET_KEY", "insecure-test-key")
os.environ.setdefault("HTTPS", "false")
os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_test_secret")
os.environ.setdefault("CONN_MAX_AGE", "0")
# Tests that want staff to need a second factor turn it on themselves.
os.environ.setdefault("STAFF_REQUIRE_MFA", "off")
if not os.environ.get("IDP_OIDC_PRIVATE_KEY"):
    # A signing key made for this test run only, in the environment so that the servers
    # and commands the tests start sign with it too.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    os.environ["IDP_OIDC_PRIVATE_KEY"] = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )

from dhportal.settings import *  # noqa: E402,F403

ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
SITE_URL = "http://testserver"  # links in mails sent by jobs: the test client's host
