from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from dhportal import adminkit, views

# Staff log in through allauth's login page, so its rate limits apply to admin too.
# Replacing the bound method is allauth's documented way; the stubs call it a method.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

# Every admin, other apps' included, refuses lookups the database would fail on.
adminkit.make_every_admin_safe(admin.site)
# The job queue and the raw audit tables are for superusers' eyes on the index.
adminkit.hide_machinery(admin.site)
# The admin carries the space's name, read when a page is drawn (SITE_NAME).
admin.site.site_header = lazy(lambda: f"{settings.SITE_NAME} staff", str)()
admin.site.site_title = lazy(lambda: f"{settings.SITE_NAME} staff", str)()
admin.site.index_title = "Staff tools"

handler400 = "dhportal.views.bad_request"
handler403 = "dhportal.views.permission_denied"
handler404 = "dhportal.views.page_not_found"
handler500 = "dhportal.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # A member changes their login email on the account page (a link mailed to the new
    # address), which keeps User, the allauth address and the member record in step;
    # allauth's own email page is closed.
    path("accounts/email/", RedirectView.as_view(pattern_name="dashboard_account")),
    # Addresses are verified by the signup link, so allauth never mails confirmation
    # links; its page would log out whoever is signed in on a mere GET.
    re_path(
        r"^accounts/confirm-email/(?P<key>[-:\w]+)/$", views.not_found, name="confirm_email_closed"
    ),
    # allauth's own view logs out a signed-in visitor, whatever the method.
    re_path(
        r"^accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
        views.password_reset_from_key,
        name="password_reset_from_key",
    ),
    path("accounts/", include("allauth.urls")),
    # Django's own "view on site" redirect, answered first: it raised on a model
    # without a table or an id its key cannot hold instead of answering 404.
    path(
        "admin/r/<path:content_type_id>/<path:object_id>/",
        admin.site.admin_view(adminkit.view_on_site),
        name="view_on_site",
    ),
    # The reports (staff/reports.py), before the admin's own catch-all.
    path("admin/reports/", include("staff.urls")),
    path("admin/", admin.site.urls),
    path("", include("dashboard.urls")),
    path("", include("signup.urls")),
    path("", include("billing.urls")),
    path("", include("integrations.urls")),
    # The identity provider: discovery at /.well-known/openid-configuration.
    path("", include("identity.urls")),
]
