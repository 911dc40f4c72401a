from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The member's own pages (no models): the overview, profile, keys, authorizations,
    storage, nametag, account and privacy pages under /dashboard/."""

    name = "dashboard"
