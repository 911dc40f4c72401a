"""The Stripe subscription statuses: one vocabulary, and the sets of it that the rules
read (README, "Architecture"). The member's `status.subscription_status` and billing's
subscription rows hold these values; readers compare them trimmed and lower-cased
(`subscription_status_form`).

members owns the vocabulary because the member's own rules read it (a paying pending
member awaits activation, a payment problem mails the member, a live subscription
refuses erasure); billing applies Stripe's snapshots with the same sets.
"""

from django.db import models


class SubscriptionStatus(models.TextChoices):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


S = SubscriptionStatus

# The member is paying: a lapsed member becomes active again, a pending one awaits
# activation, and a payment problem after one of these is news to mail.
PAYING = frozenset({S.ACTIVE, S.TRIALING})
# The membership ends: an active member becomes lapsed.
ENDED = frozenset({S.UNPAID, S.CANCELED, S.INCOMPLETE_EXPIRED, S.PAUSED})
# No later snapshot can bring these back: Stripe never reuses the subscription.
FINAL = frozenset({S.CANCELED, S.INCOMPLETE_EXPIRED})
# A payment is owed: `status.payment_problem` is true exactly under these.
PROBLEM = frozenset({S.PAST_DUE, S.UNPAID})


def subscription_status_form(value) -> str:
    """A stored status as the rules compare it: trimmed and lower-cased; "" for a
    missing or non-text value."""
    return value.strip().lower() if isinstance(value, str) else ""
