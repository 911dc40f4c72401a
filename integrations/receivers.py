"""integrations' answers to members' hooks (members/hooks.py, docs/hooks.md), connected
in IntegrationsConfig.ready().

- An erasure blanks the personal fields of the member's change-feed snapshots and the
  receivers' answers to their deliveries (an answer may echo the payload it was sent).
  The member update that erasure makes records the event that takes the access away.
- A merge moves nothing: the events are what each record's own snapshots were, and the
  merge's own writes record the merged record's last one (no tags, no login).
"""

import json

from django.db.models.expressions import RawSQL
from django.dispatch import receiver

from integrations.models import Delivery, FeedEvent
from integrations.snapshot import FIELD_KEYS
from members import hooks

# The snapshot's personal fields and their erased values.
_SNAPSHOT_BLANKS = {"username": "", "email": "", "first_name": "", "last_name": "", "rfid_tags": []}
assert set(_SNAPSHOT_BLANKS) <= set(FIELD_KEYS)

hooks.answers(
    FeedEvent,
    merge="stays: each record's own snapshots; the merge records the emptied one's last",
    erasure="personal fields of the snapshots blanked",
)
hooks.answers(
    Delivery,
    merge="stays, with its event",
    erasure="the receivers' answers blanked",
)


@receiver(hooks.member_erased, dispatch_uid="integrations_feed_blank")
def feed_blank(sender, *, member, **kwargs):
    FeedEvent.objects.filter(member_id=member.pk).update(
        snapshot=RawSQL(  # noqa: S611 - constant SQL, the blanks are a parameter
            "CASE WHEN jsonb_typeof(snapshot) = 'object' THEN snapshot || %s::jsonb"
            " ELSE snapshot END",
            (json.dumps(_SNAPSHOT_BLANKS),),
        )
    )
    Delivery.objects.filter(member_id=member.pk).update(last_answer="")
