import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import simulate, webhook
from members.models import Member

logger = logging.getLogger(__name__)


@csrf_exempt  # Stripe cannot send a CSRF token; the signature is the check.
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        # 500, not 400: Stripe keeps the events and retries once we are configured.
        logger.error("STRIPE_WEBHOOK_SECRET is not set; refusing Stripe webhook deliveries.")
        return HttpResponse("Webhook secret not configured.", status=500, content_type="text/plain")
    try:
        delivery = webhook.receive(request.body, request.headers.get("Stripe-Signature"), secret)
    except webhook.BadEvent as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    event = delivery.event
    return JsonResponse(
        {"id": event.stripe_id, "state": event.state, "duplicate": delivery.duplicate},
        status=delivery.status_code,
    )


def simulate_payment(request: HttpRequest) -> HttpResponse:
    """Development only: pretend Stripe took a payment for the logged-in member."""
    if not settings.DEBUG:
        raise Http404
    return _simulate_payment(request)


@require_POST
@login_required
def _simulate_payment(request) -> HttpResponse:  # logged in: request.user is a User
    member = Member.objects.filter(user=request.user).first()
    if member is None:
        messages.error(request, "There is no member record for this account.")
        return redirect("/signup/payment/")
    if not settings.STRIPE_WEBHOOK_SECRET:
        messages.error(request, "Set STRIPE_WEBHOOK_SECRET to simulate payments.")
        return redirect("/signup/payment/")
    deliveries = simulate.simulate_payment(member, secret=settings.STRIPE_WEBHOOK_SECRET)
    if all(d.status_code == 200 for d in deliveries):
        messages.success(request, "Simulated payment received: your test subscription is active.")
    else:
        messages.error(request, "The simulated payment could not be processed; see the logs.")
    return redirect("/signup/payment/")
