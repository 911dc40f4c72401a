"""The legacy app's side of a merge (DESIGN §10): the merged-away member's import
ledger row says `merged`, so a rerun of the import never brings it back. members sends
`member_merged` inside the merge's transaction and knows nothing of the ledger."""

import json

from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.dispatch import receiver

from legacy.models import ImportedRow, Outcome
from members.merge import member_merged


@receiver(member_merged, dispatch_uid="legacy_ledger_merged")
def ledger_merged(sender, *, survivor, merged, **kwargs):
    fix = {
        "field": "member",
        "value": "",
        "fix": f"merged into member #{survivor.pk}",
        "kind": "merge",
    }
    # One statement appending to `detail` (never a read written back).
    rows = Q(member_id=merged.pk)
    if merged.legacy_id is not None:
        rows |= Q(legacy_id=merged.legacy_id)
    ImportedRow.objects.filter(rows).update(
        outcome=Outcome.MERGED,
        detail=RawSQL(  # noqa: S611 - constant SQL, the fix is a parameter
            "CASE WHEN jsonb_typeof(detail) = 'array' THEN detail ELSE '[]'::jsonb END"
            " || %s::jsonb",
            (json.dumps([fix]),),
        ),
    )
