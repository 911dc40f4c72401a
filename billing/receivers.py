"""billing's answers to members' hooks (members/hooks.py, docs/hooks.md), connected in
BillingConfig.ready().

- A merge moves the merged record's subscriptions, Stripe events and reconciliation
  findings to the survivor: the Stripe ids live on one member after a merge, and so do
  the rows that name them, so the webhook and reconciliation find one member.
- An erasure keeps them all: the Stripe ids and the event log are kept for the
  accounts (README "Privacy").
- Erasure is refused while a subscription row may still bill.
- The export lists the member's subscriptions and a summary of their Stripe events.
"""

from django.dispatch import receiver

from billing.models import ReconcileFinding, StripeEvent, Subscription
from members import hooks
from members.erasure import LIVE_SUBSCRIPTION_REFUSAL
from members.privacy import export_value
from members.subscriptions import FINAL

_MOVED = (Subscription, StripeEvent, ReconcileFinding)

hooks.answers(
    Subscription,
    merge="moved to the survivor",
    erasure="kept: Stripe's subscription, kept for the accounts; a live one refuses",
)
hooks.answers(
    StripeEvent,
    merge="moved to the survivor",
    erasure="kept: the billing event log, kept for the accounts",
)
hooks.answers(
    ReconcileFinding,
    merge="moved to the survivor",
    erasure="kept: names Stripe objects, not the person",
)


@receiver(hooks.member_merged, dispatch_uid="billing_rows_follow_the_survivor")
def rows_follow_the_survivor(sender, *, survivor, merged, **kwargs):
    for model in _MOVED:
        model.objects.filter(member_id=merged.pk).update(member_id=survivor.pk)


@receiver(hooks.member_refusal, dispatch_uid="billing_live_subscription_refusal")
def live_subscription_refusal(sender, *, action, member, **kwargs):
    """A subscription whose status is not final may still bill (a blank one is known
    only from a checkout): its member is not erased until it is cancelled."""
    if action != hooks.Action.ERASE:
        return None
    live = Subscription.objects.filter(member_id=member.pk).exclude(status__in=FINAL)
    return LIVE_SUBSCRIPTION_REFUSAL if live.exists() else None


@receiver(hooks.member_exporting, dispatch_uid="billing_export")
def export(sender, *, member, **kwargs):
    subscriptions = [
        {
            "stripe_subscription_id": s.stripe_id,
            "stripe_customer_id": s.customer_id,
            "status": s.status,
            "product_id": s.product_id,
            "current_period_end": export_value(s.current_period_end),
            "date_added": export_value(s.date_added),
        }
        for s in Subscription.objects.filter(member_id=member.pk).order_by("date_added", "pk")
    ]
    # Summaries: what happened when, not Stripe's whole payload (which may name others,
    # e.g. the person who paid).
    events = [
        {
            "stripe_event_id": e.stripe_id,
            "type": e.type,
            "created": export_value(e.created),
            "state": e.state,
            "processed_at": export_value(e.processed_at),
        }
        for e in StripeEvent.objects.filter(member_id=member.pk).order_by("created", "pk")
    ]
    return {"subscriptions": subscriptions, "stripe_events": events}
