"""The dashboard's menu: every member page, the current one marked for screen readers
(aria-current) and for the eye (site.css)."""

from django import template
from django.urls import reverse

from members.shapes import MemberStatus

register = template.Library()

# (URL name, what the menu calls it), in the order members meet them.
PAGES = (
    ("dashboard", "Overview"),
    ("dashboard_profile", "Profile"),
    ("dashboard_keys", "Keys"),
    ("dashboard_auths", "Authorizations"),
    ("dashboard_storage", "Storage & forms"),
    ("dashboard_visits", "Visits"),
    ("dashboard_floof", "Floof"),
    ("dashboard_account", "Account"),
    ("dashboard_privacy", "Your data"),
)
# A banned member reaches only these (dashboard/views.py sends them to the first).
BANNED_PAGES = (("dashboard_locked", "Account locked"), ("dashboard_privacy", "Your data"))


@register.inclusion_tag("members/_menu.html", takes_context=True)
def dashboard_menu(context):
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    current = match.url_name if match is not None else None
    member = context.get("member")
    banned = member is not None and member.membership_status == MemberStatus.BANNED
    return {
        "links": [
            {"url": reverse(name), "label": label, "current": name == current}
            for name, label in (BANNED_PAGES if banned else PAGES)
        ]
    }
