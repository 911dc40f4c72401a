from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from dhportal import views

# Staff log in through allauth's login page, so its rate limits apply to admin too.
admin.site.login = secure_admin_login(admin.site.login)

handler400 = "dhportal.views.bad_request"
handler500 = "dhportal.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # A member's login email changes only through staff, who keep User, the allauth
    # address and the member record in step; allauth's own email page is closed.
    path("accounts/email/", RedirectView.as_view(pattern_name="dashboard_profile")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("members.urls")),
    path("", include("signup.urls")),
    path("", include("billing.urls")),
]
