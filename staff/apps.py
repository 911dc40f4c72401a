from django.apps import AppConfig


class StaffConfig(AppConfig):
    """Everything staff do in Django admin for the members app. No models: the admins
    edit the members app's tables."""

    name = "staff"
    verbose_name = "Staff tooling"

    def ready(self):
        # The members app's counts on the admin index (the other apps register theirs),
        # its reports and gauges (dhportal/reports.py), and the index's links to the
        # reports and the authorize page.
        from dhportal.needs_staff import register_link
        from staff.index_panel import register_member_counts
        from staff.report_figures import register_member_reports
        from staff.reports import PERMISSION

        register_member_counts()
        register_member_reports()
        register_link("reports", "Reports", url="admin_reports", permission=PERMISSION, order=5)
        register_link(
            "grant_authorization",
            "Grant a tool authorization",
            url="admin:members_member_authorize",
            permission="members.view_authorizations",
            order=20,
        )
