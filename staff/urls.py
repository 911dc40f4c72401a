"""The staff pages that are not a model's admin, inside the admin site (its login and
staff check)."""

from django.contrib import admin
from django.urls import path

from staff.reports import reports_view

urlpatterns = [
    path("", admin.site.admin_view(reports_view), name="admin_reports"),
]
