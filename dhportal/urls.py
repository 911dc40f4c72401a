from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from dhportal import views

# Staff log in through allauth's login page, so its rate limits apply to admin too.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("members.urls")),
    path("", include("signup.urls")),
    path("", include("billing.urls")),
]
