"""Template helpers for the pages members and visitors see.

- `{{ value|day }}`: every date on the member and signup pages, one way ("15 January
  2026"); views format with the same `day()`, so a date reads the same wherever it is.
- `{% site_name %}`: SITE_NAME for templates rendered without a request's context (the
  500 and 503 pages, mails), where the context processor does not run.
"""

import datetime

from django import template
from django.conf import settings
from django.utils import dateformat, timezone

register = template.Library()

DAY_FORMAT = "j F Y"


@register.filter
def day(value: object) -> object:
    """A date or datetime as "15 January 2026" (an aware datetime in TIME_ZONE); an ISO
    date string is read first; anything else is returned as it is."""
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    if isinstance(value, datetime.date):
        return dateformat.format(value, DAY_FORMAT)
    return value


@register.simple_tag
def site_name() -> str:
    return settings.SITE_NAME


@register.simple_tag
def site_url() -> str:
    """SITE_URL, the public base URL links in mails are built from."""
    return settings.SITE_URL
