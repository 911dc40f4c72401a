"""Migration 0006 moves the ID check that activation wrote into id_check_1/id_check_2
over to id_check_date/id_check_by, and only where activation's note proves it did."""

import importlib
from types import SimpleNamespace

import pytest
from django.db import connection

from members.models import Member
from tests.factories import MemberFactory

migration = importlib.import_module("members.migrations.0006_activation_id_check")

NOTE = (
    "Activated after onboarding by lin (was pending): ID checked 2026-11-20 by checker, "
    "waiver signed 2026-11-21, orientation 2026-11-22."
)


def _forms(**keys):
    return {
        "waiver_signed_date": "2026-11-21",
        "id_check_1": "",
        "id_check_2": "",
        "terms_of_use_accepted": True,
        **keys,
    }


def _note(text=NOTE):
    return [{"note": text, "from": "lin", "timestamp": "2026-11-22T10:00:00+00:00"}]


def _run(step):
    step(None, SimpleNamespace(connection=connection))


@pytest.mark.django_db
def test_it_moves_what_activation_wrote_and_restores_the_document_keys():
    member = MemberFactory(
        forms=_forms(id_check_1="2026-11-20", id_check_2="checker"), notes=_note()
    )
    _run(migration.move_id_checks)
    forms = Member.objects.get(pk=member.pk).forms
    assert forms == _forms(id_check_date="2026-11-20", id_check_by="checker")
    _run(migration.restore_id_checks)
    assert Member.objects.get(pk=member.pk).forms == _forms(
        id_check_1="2026-11-20", id_check_2="checker"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "forms, notes",
    [
        # Deep Harbor's issuer and number.
        (_forms(id_check_1="IL", id_check_2="DL-1234"), _note()),
        # A date that activation's note does not name, or no note from activation.
        (_forms(id_check_1="2026-11-19", id_check_2="checker"), _note()),
        (_forms(id_check_1="2026-11-20", id_check_2="other"), _note()),
        (_forms(id_check_1="2026-11-20", id_check_2="checker"), []),
        (
            _forms(id_check_1="2026-11-20", id_check_2="checker"),
            _note("ID checked 2026-11-20 by checker, by hand"),
        ),
        # Already moved, or set since.
        (
            _forms(id_check_1="2026-11-20", id_check_2="checker", id_check_date="2026-11-20"),
            _note(),
        ),
        # Damaged rows stay for staff.
        (["not", "an", "object"], _note()),
        (_forms(id_check_1="2026-11-20", id_check_2="checker"), {"note": NOTE}),
        (_forms(id_check_1="2026-11-20", id_check_2="checker"), None),
    ],
)
def test_it_leaves_every_other_row_alone(forms, notes):
    member = MemberFactory(forms=forms, notes=notes)
    _run(migration.move_id_checks)
    assert Member.objects.get(pk=member.pk).forms == forms
