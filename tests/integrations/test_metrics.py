"""/metrics: a `metrics:read` key or nothing (401, 403), and the gauges the README
names in Prometheus' text format, parsed with prometheus_client's own parser and
cross-checked with SQL on a seeded database."""

import datetime
import math

import pytest
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from billing.models import ReconcileRun
from dhportal.jobs import defer
from integrations.models import Delivery, Endpoint
from integrations.services import access_key_create, access_key_revoke
from members.models import Member, Notification, NotificationKind
from tests.factories import DoorEventFactory, MemberFactory, StripeEventFactory
from tests.reports_seed import odd_members, sql_one, sql_status_counts

URL = "/metrics"
GAUGES = {
    "dhportal_members",
    "dhportal_partial_members",
    "dhportal_jobs",
    "dhportal_failed_notifications",
    "dhportal_dead_deliveries",
    "dhportal_stripe_events",
    "dhportal_seconds_since_reconcile",
    "dhportal_door_events_last_hour",
}

pytestmark = pytest.mark.django_db


def key_with(*scopes: str) -> str:
    return access_key_create(name=f"monitor {'+'.join(scopes)}", scopes=list(scopes))[1]


def scrape(client, key: str):
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    families = text_string_to_metric_families(response.content.decode())
    return {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for family in families
        if family.type == "gauge"
    }


def _world():
    odd_members()
    MemberFactory(notes=None, access=None)  # partial
    for member in Member.objects.all()[:3]:
        Notification.objects.create(member=member, kind=NotificationKind.ACTIVATED, key="k")
    Notification.objects.filter(pk__in=Notification.objects.values("pk")[:2]).update(state="failed")
    for state in ("failed", "failed", "processed", "unmatched"):
        StripeEventFactory(state=state)
    endpoint = Endpoint.objects.create(name="door", url="http://127.0.0.1:9/", secret="s" * 32)
    for member, state in zip(
        MemberFactory.create_batch(3), ("dead", "dead", "pending"), strict=True
    ):
        event = member.feed_events.get()
        Delivery.objects.create(
            endpoint=endpoint,
            event=event,
            member_id=member.pk,
            sequence=event.sequence,
            state=state,
        )
    now = timezone.now()
    for minutes, granted in ((5, True), (20, True), (50, False), (70, True)):
        DoorEventFactory(at=now - datetime.timedelta(minutes=minutes), granted=granted)
    defer("members.tasks.repair_members", timestamp=1)
    ReconcileRun.objects.create(started=now, finished=now - datetime.timedelta(seconds=600))


def test_it_refuses_a_request_without_a_valid_key(client):
    assert client.get(URL).status_code == 401
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    revoked = access_key_create(name="old", scopes=["metrics:read"])[1]
    access_key_revoke(name="old")
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {revoked}").status_code == 401


def test_it_refuses_a_key_without_the_metrics_scope(client):
    key = key_with("access:read", "door-events:write")
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 403
    assert "metrics:read" in response.json()["error"]


def test_it_answers_a_post_with_405(client):
    key = key_with("metrics:read")
    assert client.post(URL, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 405


def test_it_gives_each_gauge_cross_checked_with_sql(client):
    _world()
    gauges = scrape(client, key_with("metrics:read"))
    assert set(gauges) == GAUGES

    members = {
        dict(labels)["status"]: value for labels, value in gauges["dhportal_members"].items()
    }
    assert members == {label: float(n) for label, n in sql_status_counts().items()}
    assert sum(members.values()) == sql_one("SELECT count(*) FROM members_member")
    assert members["unknown"] > 0 and members["merged"] == 1 and members["erased"] == 1

    partial = sql_one(
        "SELECT count(*) FROM members_member WHERE status -> 'membership_status' IS NULL"
        " OR jsonb_typeof(status -> 'membership_status') = 'null' OR connections IS NULL"
        " OR forms IS NULL OR notes IS NULL OR access IS NULL OR authorizations IS NULL"
        " OR extras IS NULL"
    )
    assert gauges["dhportal_partial_members"] == {(): float(partial)}

    with connection.cursor() as cursor:
        cursor.execute("SELECT queue_name, status, count(*) FROM procrastinate_jobs GROUP BY 1, 2")
        jobs = {(("queue", q), ("state", s)): float(n) for q, s, n in cursor.fetchall()}
    assert jobs and gauges["dhportal_jobs"] == jobs

    failed = "SELECT count(*) FROM members_notification WHERE state = 'failed'"
    assert gauges["dhportal_failed_notifications"] == {(): float(sql_one(failed))} == {(): 2.0}
    dead = sql_one("SELECT count(*) FROM integrations_delivery WHERE state = 'dead'")
    assert dead == 2 and gauges["dhportal_dead_deliveries"] == {(): float(dead)}

    stripe = {dict(k)["state"]: v for k, v in gauges["dhportal_stripe_events"].items()}
    for state in ("failed", "processed", "unmatched", "ignored"):
        sql = "SELECT count(*) FROM billing_stripeevent WHERE state = %s"
        assert stripe[state] == sql_one(sql, [state]), state
    assert stripe["failed"] == 2

    (since,) = gauges["dhportal_seconds_since_reconcile"].values()
    assert 600 <= since < 660

    doors = {dict(k)["result"]: v for k, v in gauges["dhportal_door_events_last_hour"].items()}
    hour = "SELECT count(*) FROM integrations_doorevent WHERE at >= now() - interval '1 hour'"
    assert doors == {
        "granted": sql_one(hour + " AND granted"),
        "refused": sql_one(hour + " AND NOT granted"),
    }
    assert doors == {"granted": 2, "refused": 1}


def test_it_says_nan_seconds_since_a_reconciliation_that_never_ran(client):
    ReconcileRun.objects.create(started=timezone.now(), dry_run=True, finished=timezone.now())
    gauges = scrape(client, key_with("metrics:read"))
    assert math.isnan(gauges["dhportal_seconds_since_reconcile"][()])
    assert gauges["dhportal_members"] == {
        (("status", label),): 0.0
        for label in (
            "pending",
            "active",
            "lapsed",
            "suspended",
            "banned",
            "unknown",
            "merged",
            "erased",
        )
    }


def test_it_limits_the_scrapes_of_a_key(client, settings):
    settings.INTEGRATIONS_METRICS_RATE_LIMIT = "2/60"
    key = key_with("metrics:read")
    answers = [client.get(URL, HTTP_AUTHORIZATION=f"Bearer {key}").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
