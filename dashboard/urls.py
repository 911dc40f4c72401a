from django.urls import path

from dashboard import account, privacy, views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/profile/", views.profile, name="dashboard_profile"),
    path("dashboard/keys/", views.keys, name="dashboard_keys"),
    path("dashboard/auths/", views.auths, name="dashboard_auths"),
    path("dashboard/storage/", views.storage, name="dashboard_storage"),
    path("dashboard/visits/", views.visits, name="dashboard_visits"),
    path("dashboard/floof/", views.floof, name="dashboard_floof"),
    path("dashboard/locked/", views.locked, name="dashboard_locked"),
    path("dashboard/account/", account.account, name="dashboard_account"),
    path("dashboard/privacy/", privacy.privacy, name="dashboard_privacy"),
    # The kwarg is `token` so the audit history and access logs elide it (dhportal/routes.py).
    path(
        "dashboard/account/email/<str:token>/",
        account.email_confirm,
        name="dashboard_email_confirm",
    ),
]
