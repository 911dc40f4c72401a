"""Membership transitions driven by Stripe: one pure function of the table below
(README, "Architecture"; the statuses and their sets are members/subscriptions.py's).

| Stripe subscription status                    | effect on membership_status        |
|-----------------------------------------------|------------------------------------|
| active, trialing                              | lapsed -> active; others unchanged |
| past_due                                      | unchanged (payment_problem set)    |
| unpaid, canceled, incomplete_expired, paused  | active -> lapsed; others unchanged |
| incomplete                                    | unchanged                          |

Only the member's current subscription moves the member; suspended and banned are
staff decisions that Stripe never changes; pending stays pending until staff activate
the member after an in-person ID check.
"""

from members.models import MemberStatus
from members.subscriptions import ENDED, FINAL, PAYING, PROBLEM, subscription_status_form


def _norm(value) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def membership_transition(current: str | None, stripe_status: str, *, is_current: bool) -> str:
    """The membership status after a Stripe subscription snapshot.

    `current` is compared case-insensitively; the answer is lower-case. A missing
    current status is treated as pending (the scaffolding default).
    """
    status = _norm(current) or MemberStatus.PENDING
    stripe_status = subscription_status_form(stripe_status)
    if not is_current:
        return status
    if stripe_status in PAYING and status == MemberStatus.LAPSED:
        return MemberStatus.ACTIVE
    if stripe_status in ENDED and status == MemberStatus.ACTIVE:
        return MemberStatus.LAPSED
    return status


def payment_problem(stripe_status: str) -> bool:
    return subscription_status_form(stripe_status) in PROBLEM


def is_live(stripe_status: str) -> bool:
    """A subscription that has not ended for good. Blank (known only from a checkout,
    no snapshot yet) counts as live, so it is never silently replaced."""
    return subscription_status_form(stripe_status) not in FINAL
