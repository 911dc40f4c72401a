"""integrations' answers to members' hooks (members/hooks.py, docs/hooks.md), connected
in IntegrationsConfig.ready().

- An erasure blanks the personal fields of the member's change-feed snapshots and the
  receivers' answers to their deliveries (an answer may echo the payload it was sent).
  The member update that erasure makes records the event that takes the access away.
- A merge moves nothing of the feed: the events are what each record's own snapshots
  were, and the merge's own writes record the merged record's last one (no tags, no
  login).
- Door events are the person's visits: a merge moves them to the survivor; an erasure
  unlinks them from the member and blanks their tag (the counts by door and time stay);
  the export lists them.
"""

import json

from django.db.models.expressions import RawSQL
from django.dispatch import receiver

from integrations.models import Delivery, DoorEvent, FeedEvent
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
hooks.answers(
    DoorEvent,
    merge="moved to the survivor: the same person's visits",
    erasure="unlinked from the member, tag blanked (also on unmatched events with their tags)",
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


@receiver(hooks.member_merged, dispatch_uid="integrations_door_events_merge")
def door_events_merge(sender, *, survivor, merged, **kwargs):
    DoorEvent.objects.filter(member_id=merged.pk).update(member_id=survivor.pk)


@receiver(hooks.member_erased, dispatch_uid="integrations_door_events_erase")
def door_events_erase(sender, *, member, **kwargs):
    # The tags their events carry were theirs: unmatched events with one of them (a
    # swipe before the tag was registered) go blank too.
    theirs = DoorEvent.objects.filter(member_id=member.pk)
    tags = list(theirs.exclude(tag="").order_by().values_list("tag", flat=True).distinct())
    DoorEvent.objects.filter(member__isnull=True, tag__in=tags).update(tag="")
    theirs.update(member_id=None, tag="")


@receiver(hooks.member_exporting, dispatch_uid="integrations_door_events_export")
def door_events_export(sender, *, member, **kwargs):
    entries = DoorEvent.objects.filter(member_id=member.pk).order_by("at", "id")
    return {
        "door_events": [
            {
                "at": event.at.isoformat(),
                "door": event.door,
                "granted": event.granted,
                "tag": event.tag,
            }
            for event in entries.only("at", "door", "granted", "tag")
        ]
    }
