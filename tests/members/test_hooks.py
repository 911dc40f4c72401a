"""members' hooks (members/hooks.py): every model that points at a member or a login has
someone answering for it on a merge and an erasure, members reaches into no other
app's tables, and the apps' answers run inside the merge's and the erasure's
transaction."""

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.dispatch import receiver

from billing.models import ReconcileFinding, StripeEvent, Subscription
from members import hooks
from members.erasure import ErasureRefused, erasure_request_open, member_erase
from members.merge import MergeRefused, member_merge
from members.models import ErasureRequest, Member, User
from members.privacy import member_export
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

MEMBERS_DIR = Path(__file__).resolve().parents[2] / "members"


def _pointing_models():
    """Every concrete model with a foreign key or one-to-one field to Member or User
    (a proxy's rows are its concrete model's)."""
    found = set()
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        for field in model._meta.get_fields():
            if (
                field.is_relation
                and (field.many_to_one or field.one_to_one)
                and field.concrete
                and field.related_model in (Member, User)
            ):
                found.add(model)
    return found


def _unanswered(answers) -> list[str]:
    return sorted(m._meta.label for m in _pointing_models() if m not in answers)


def test_it_has_an_answer_for_every_model_pointing_at_a_member_or_a_login():
    assert _unanswered(hooks.ANSWERS) == []


def test_it_names_the_models_nobody_answers_for():
    answers = {m: a for m, a in hooks.ANSWERS.items() if m._meta.app_label != "billing"}
    assert _unanswered(answers) == [
        "billing.ReconcileFinding",
        "billing.StripeEvent",
        "billing.Subscription",
    ]


def _members_sources():
    for path in sorted(MEMBERS_DIR.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text())


def test_members_names_no_other_apps_table_nor_reverse_relation():
    """No SQL on another app's table, no reverse-relation name held in a string: each
    app answers the hooks for its own rows."""
    project = {"billing", "integrations", "legacy", "signup"}
    others = [m for m in apps.get_models() if m._meta.app_label in project]
    tables = {m._meta.db_table for m in others}
    relations = {
        field.remote_field.related_name
        for model in others
        for field in model._meta.get_fields()
        if field.is_relation and field.concrete and field.related_model in (Member, User)
        if field.remote_field.related_name
    }
    assert "subscriptions" in relations and "billing_subscription" in tables
    words = re.compile(r"\b(" + "|".join(map(re.escape, sorted(tables))) + r")\b")
    found = []
    for path, tree in _members_sources():
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and (words.search(text) or text in relations):
                found.append(f"{path.name}:{node.lineno} {node.value[:60]!r}")
    assert found == []


def test_a_merge_moves_billings_rows_to_the_survivor():
    staff = StaffFactory()
    survivor = MemberFactory()
    merged = MemberFactory(user=None, email="twin@example.org", username="")
    subscription = Subscription.objects.create(stripe_id="sub_Hook01", member=merged)
    event = StripeEvent.objects.create(
        stripe_id="evt_Hook01", type="x", created="2026-01-01T00:00:00Z", payload={}, member=merged
    )
    finding = ReconcileFinding.objects.create(
        kind="subscription",
        stripe_object="sub_Hook01",
        member=merged,
        found="2026-01-01T00:00:00Z",
        last_seen="2026-01-01T00:00:00Z",
    )

    member_merge(survivor=survivor, merged=merged, choices={}, by=staff)

    for row in (subscription, event, finding):
        row.refresh_from_db()
        assert row.member_id == survivor.pk, row


def _refusing(text):
    def refuse(sender, *, action, member, other, **kwargs):
        return f"{text} {action} #{member.pk}"

    return refuse


def test_an_app_refuses_a_merge_with_its_reason_and_nothing_is_written():
    staff = StaffFactory()
    survivor = MemberFactory()
    merged = MemberFactory(user=None, email="twin@example.org", username="")
    refuse = _refusing("Not today:")
    hooks.member_refusal.connect(refuse, dispatch_uid="test_refuse", weak=False)
    try:
        with pytest.raises(MergeRefused, match=f"Not today: merge #{survivor.pk}"):
            member_merge(survivor=survivor, merged=merged, choices={}, by=staff)
    finally:
        hooks.member_refusal.disconnect(dispatch_uid="test_refuse")
    merged.refresh_from_db()
    assert merged.merged_into_id is None and merged.email == "twin@example.org"


def test_an_app_refuses_an_erasure_and_nothing_is_written():
    member = MemberFactory()
    request, _ = erasure_request_open(member=member)
    hooks.member_refusal.connect(_refusing("Wait:"), dispatch_uid="test_refuse", weak=False)
    try:
        with pytest.raises(ErasureRefused, match=f"Wait: erase #{member.pk}"):
            member_erase(request=request, by=StaffFactory())
    finally:
        hooks.member_refusal.disconnect(dispatch_uid="test_refuse")
    assert Member.objects.get(pk=member.pk).email == member.email
    assert ErasureRequest.objects.get(pk=request.pk).erased_at is None


class Boom(Exception):
    pass


def test_a_failing_answer_rolls_the_whole_erasure_back():
    member = MemberFactory()
    request, _ = erasure_request_open(member=member)

    @receiver(hooks.member_erased, dispatch_uid="test_boom")
    def boom(sender, **kwargs):
        raise Boom

    try:
        with pytest.raises(Boom):
            member_erase(request=request, by=StaffFactory())
    finally:
        hooks.member_erased.disconnect(dispatch_uid="test_boom")
    after = Member.objects.get(pk=member.pk)
    assert (after.email, after.identity) == (member.email, member.identity)
    assert after.user.email == member.user.email


def test_an_export_part_may_not_take_a_key_members_gives():
    member = MemberFactory()

    def clash(sender, **kwargs):
        return {"history": []}

    hooks.member_exporting.connect(clash, dispatch_uid="test_clash")
    try:
        with pytest.raises(Exception, match="history"):
            member_export(member=member)
    finally:
        hooks.member_exporting.disconnect(dispatch_uid="test_clash")
    assert "subscriptions" in member_export(member=member)
