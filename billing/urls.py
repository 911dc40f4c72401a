from django.urls import path

from billing import views

urlpatterns = [
    path("billing/stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
    path("billing/simulate/", views.simulate_payment, name="billing_simulate"),
]
