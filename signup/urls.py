from django.urls import path

from signup import views

app_name = "signup"

urlpatterns = [
    path("signup/", views.start, name="start"),
    path("signup/sent/", views.sent, name="sent"),
    path("signup/continue/<str:token>/", views.continue_signup, name="continue"),
    path("signup/payment/", views.payment, name="payment"),
    path("api/check-username", views.check_username, name="check_username"),
]
