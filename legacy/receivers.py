"""legacy's answers to members' hooks (members/hooks.py, docs/hooks.md), connected in
LegacyConfig.ready(). The import ledger keeps the legacy id of every row the import
took, so that a rerun never brings a member back:

- a merge marks the merged-away member's ledger row `merged`, the survivor appended to
  its detail;
- an erasure blanks the row's detail (the values the import could not map, which may
  be the person's) and marks it `erased`.
"""

import json

from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.dispatch import receiver

from legacy.models import ImportedRow, Outcome
from members import hooks

hooks.answers(
    ImportedRow,
    merge="the merged record's row says `merged`",
    erasure="detail blanked, outcome `erased`",
)


def _rows(member) -> Q:
    """The member's ledger rows: by member, and by legacy id (a row whose member link
    was lost still names the person)."""
    rows = Q(member_id=member.pk)
    if member.legacy_id is not None:
        rows |= Q(legacy_id=member.legacy_id)
    return rows


@receiver(hooks.member_merged, dispatch_uid="legacy_ledger_merged")
def ledger_merged(sender, *, survivor, merged, **kwargs):
    fix = {
        "field": "member",
        "value": "",
        "fix": f"merged into member #{survivor.pk}",
        "kind": "merge",
    }
    # One statement appending to `detail` (never a read written back).
    ImportedRow.objects.filter(_rows(merged)).update(
        outcome=Outcome.MERGED,
        detail=RawSQL(  # noqa: S611 - constant SQL, the fix is a parameter
            "CASE WHEN jsonb_typeof(detail) = 'array' THEN detail ELSE '[]'::jsonb END"
            " || %s::jsonb",
            (json.dumps([fix]),),
        ),
    )


@receiver(hooks.member_erased, dispatch_uid="legacy_ledger_erased")
def ledger_erased(sender, *, member, **kwargs):
    ImportedRow.objects.filter(_rows(member)).update(detail=[], outcome=Outcome.ERASED)
