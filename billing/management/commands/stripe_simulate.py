"""Deliver realistic, signed Stripe events for a member to the webhook view.

python manage.py stripe_simulate ada@example.org
python manage.py stripe_simulate ada past_due invoice_failed
python manage.py stripe_simulate 42 canceled --url http://127.0.0.1:8000/billing/stripe/webhook/
"""

import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import CommandError
from django.test import RequestFactory
from django.urls import resolve, reverse

from billing import simulate
from dhportal import commands
from members.models import Member

DEFAULT_STEPS = ["checkout", "active", "invoice_paid"]


class Command(commands.Command):
    help = (
        "Build realistic Stripe events for a member (checkout completed, subscription "
        "active / past_due / canceled, invoice paid / failed), sign them with "
        "STRIPE_WEBHOOK_SECRET and deliver them to the webhook view, printing each response."
    )

    def add_arguments(self, parser):
        parser.add_argument("member", help="Member id, email or username.")
        parser.add_argument(
            "steps",
            nargs="*",
            metavar="step",
            help=(
                f"Events to send, in order, from: {', '.join(simulate.STEPS)} "
                f"(default: {' '.join(DEFAULT_STEPS)})."
            ),
        )
        parser.add_argument(
            "--product",
            help=(
                "Stripe product id (default: the first plan, or a simulated one). A product "
                "without a plan gets one, so the member's level is a plan name."
            ),
        )
        parser.add_argument(
            "--url",
            help="POST to this URL over HTTP instead of calling the view in-process.",
        )

    def handle(self, *args, member, steps, product, url, **options):
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise CommandError("STRIPE_WEBHOOK_SECRET is not set; nothing to sign with.")
        steps = steps or DEFAULT_STEPS
        unknown = [step for step in steps if step not in simulate.STEPS]
        if unknown:
            raise CommandError(
                f"Unknown step {unknown[0]!r}; choose from {', '.join(simulate.STEPS)}."
            )
        target = self._member(member)
        status = target.status if isinstance(target.status, dict) else {}
        customer_id = status.get("stripe_customer_id") or ""
        subscription_id = status.get("stripe_subscription_id") or ""
        if "checkout" in steps:
            customer_id, subscription_id = simulate.new_id("cus"), simulate.new_id("sub")
        elif not subscription_id:
            raise CommandError(
                f"Member #{target.pk} has no subscription yet; start with the checkout step."
            )
        on_record = status.get("stripe_product_id")
        on_record = on_record if isinstance(on_record, str) else ""
        events = simulate.build_events(
            target,
            steps,
            customer_id=customer_id or simulate.new_id("cus"),
            subscription_id=subscription_id,
            product_id=simulate.plan_for(product or on_record or simulate.default_product()),
        )
        for payload in events:
            body, header = simulate.signed(payload, secret)
            code, answer = self._post(url, body, header)
            self.stdout.write(f"{payload['type']} {payload['id']} -> {code} {answer}")

    def _member(self, ref: str) -> Member:
        members = Member.objects
        found = members.filter(pk=int(ref)).first() if ref.isdigit() else None
        found = found or members.by_email(ref) or members.with_username(ref).first()
        if found is None:
            raise CommandError(f"No member with id, email or username {ref!r}.")
        return found

    def _post(self, url, body: str, header: str) -> tuple[int, str]:
        if not url:
            path = reverse("stripe_webhook")
            request = RequestFactory().post(
                path, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
            )
            response = resolve(path).func(request)
            return response.status_code, response.content.decode()
        outgoing = urllib.request.Request(  # noqa: S310 - the operator chooses the URL
            url,
            data=body.encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
            method="POST",
        )
        try:
            with urllib.request.urlopen(outgoing, timeout=30) as response:  # noqa: S310
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except urllib.error.URLError as exc:
            raise CommandError(f"Could not reach {url}: {exc.reason}") from None
