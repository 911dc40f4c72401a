"""Benchmark: Stripe reconciliation against the loopback fake of Stripe's API.

The fake holds 5,000 subscriptions (50 pages of 100) and 2,000 events of the last 29
days. 1,000 members each have a subscription the portal knows as active; the events
the webhook never got are 1,000 updates of those (a tenth of them past_due) and 1,000
subscriptions of customers the portal does not know. At Stripe, 50 of the members'
subscriptions were canceled with no event, and 4,000 belong to unknown customers.

It prints the wall time of a full run (the first: everything to apply and store) and
of a second run with nothing to do, the requests each made, and their summary lines.

    .venv/bin/python bench/reconcile.py [--members 1000] [--strangers 4000] [--events 2000]

Uses BENCH_DATABASE_URL, or postgres://postgres@127.0.0.1:5432/dh_bench_reconcile, dropped
and created afresh each run. Prints figures; asserts nothing.
"""

import argparse
import collections
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _setup import bench_environ, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/dh_bench_reconcile"
SITE_URL = "https://members.example.org"
DAY = 86400


def configure_env(fake):
    bench_environ(
        DEFAULT_DB,
        ALLOWED_HOSTS="members.example.org",
        SITE_URL=SITE_URL,
        STRIPE_SECRET_KEY=fake.api_key,
        STRIPE_API_BASE=fake.url,
        LOG_LEVEL="ERROR",
    )


def fill(fake, *, members: int, strangers: int, events: int):
    """The fake's account and the portal's members, as the docstring tells."""
    from billing.models import Subscription
    from members import scaffolding
    from members.models import Member
    from tests.stripe_fake import WEBHOOK_URL, subscription, subscription_event

    now = int(time.time())
    old_end, new_end = now - 2 * DAY, now + 28 * DAY
    fake.add_endpoint(WEBHOOK_URL)
    rows = []
    for i in range(members):
        values = {c: scaffolding.default(c) for c in scaffolding.NULLABLE_COLUMNS}
        values["status"].update(
            membership_status="active",
            stripe_customer_id=f"cus_m{i:05d}",
            stripe_subscription_id=f"sub_m{i:05d}",
            stripe_product_id="prod_TestStandard0001",
            subscription_status="active",
            renewal_date=datetime.fromtimestamp(old_end, UTC).date().isoformat(),
        )
        rows.append(Member(email=f"bench-{i}@example.org", username=f"bench{i}", **values))
    created = Member.objects.bulk_create(rows)
    known = datetime.fromtimestamp(now - 40 * DAY, UTC)
    Subscription.objects.bulk_create(
        Subscription(
            stripe_id=f"sub_m{i:05d}",
            customer_id=f"cus_m{i:05d}",
            status="active",
            product_id="prod_TestStandard0001",
            current_period_end=datetime.fromtimestamp(old_end, UTC),
            member=member,
            last_event_created=known,
        )
        for i, member in enumerate(created)
    )

    # Events of the last 29 days, none in the last two hours.
    span = 27 * DAY
    member_events = min(events // 2, members)
    for i in range(members):
        status = "past_due" if i % 10 == 0 else "active"
        sub = subscription(
            f"sub_m{i:05d}",
            f"cus_m{i:05d}",
            status=status,
            period_end=new_end,
            created=now - 60 * DAY,
        )
        if i < member_events:
            when = now - 29 * DAY + span * i // member_events
            fake.add_event(subscription_event("updated", sub, created=when))
        if i % 20 == 5:  # canceled at Stripe, and the event never came
            sub = subscription(
                f"sub_m{i:05d}", f"cus_m{i:05d}", status="canceled", created=now - 60 * DAY
            )
        fake.add_subscription(sub)
    stranger_events = events - member_events
    for i in range(strangers):
        sub = subscription(f"sub_s{i:05d}", f"cus_s{i:05d}", created=now - 50 * DAY + i)
        fake.add_subscription(sub)
        if i < stranger_events:
            when = now - 29 * DAY + span * i // stranger_events
            fake.add_event(subscription_event("created", sub, created=when))


def timed_run(fake):
    from billing import reconcile

    before = len(fake.requests)
    began = time.perf_counter()
    result = reconcile.reconcile()
    seconds = time.perf_counter() - began
    paths = collections.Counter(r.path for r in fake.requests[before:])
    return seconds, result, paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--strangers", type=int, default=4000)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()

    from tests.stripe_fake import StripeFake

    fake = StripeFake().start()
    configure_env(fake)
    recreate_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.management import call_command

    from billing.models import ReconcileFinding, StripeEvent, Subscription

    call_command("migrate", verbosity=0)
    fill(fake, members=args.members, strangers=args.strangers, events=args.events)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # a live database has its statistics
    total = len(fake.subscriptions)
    print(
        f"fake Stripe on {fake.url}: {total} subscriptions ({-(-total // 100)} pages), "
        f"{len(fake.events)} events; {args.members} members; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    try:
        for label in ("first run", "second run"):
            seconds, result, paths = timed_run(fake)
            per_path = ", ".join(f"{path} {n}" for path, n in sorted(paths.items()))
            print(f"{label}: {seconds:.2f} s wall; {result.requests} requests ({per_path})")
            print(f"  {result.summary()}; orphans stored {result.orphans}")
            if result.error:
                print(f"  error: {result.error}")
    finally:
        fake.stop()
    states = collections.Counter(StripeEvent.objects.values_list("state", flat=True))
    print(
        f"stored: {dict(states)} events, {Subscription.objects.count()} subscriptions "
        f"({Subscription.objects.filter(member__isnull=True).count()} orphans), "
        f"{ReconcileFinding.objects.count()} findings "
        f"({ReconcileFinding.objects.open().count()} open)"
    )


if __name__ == "__main__":
    main()
