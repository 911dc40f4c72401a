"""What every page knows about the site (README, "Configuration"): its name, where to
write and come for orientation, and the terms of use signup links to."""

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, str]:
    return {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_CONTACT_EMAIL": settings.SITE_CONTACT_EMAIL,
        "SITE_ADDRESS": settings.SITE_ADDRESS,
        "TERMS_URL": settings.TERMS_URL,
    }
