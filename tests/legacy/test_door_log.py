"""Deep Harbor's door log (member_access_log) comes in as door events `dh-<id>`, matched
exactly to the member now holding the tag; a rerun adds none."""

import pytest

from integrations.models import DoorEvent
from tests.legacy.conftest import SQL, deepharbor_sql, run_import

pytestmark = pytest.mark.django_db


def events() -> dict[str, tuple]:
    return {
        e.event_id: (e.door, e.tag, e.granted, e.member_id, e.key_id)
        for e in DoorEvent.objects.all()
    }


def test_it_imports_the_door_log_matched_exactly(imported):
    one, two, nine = imported[1].pk, imported[2].pk, imported[9].pk
    assert events() == {
        "dh-1": ("front / door 1", "0000012345", True, one, None),
        # Deep Harbor's LIKE '%1234%' gave this swipe to member 1; nobody holds 0000001234.
        "dh-2": ("front / door 1", "0000001234", False, None, None),
        "dh-3": ("back / door 2", "0000000042", False, two, None),
        "dh-4": ("back / door 2", "0000000099", True, two, None),
        "dh-5": ("shop", "0000000777", True, nine, None),
        "dh-8": ("garage", "0000005555", True, None, None),
    }
    assert imported["out"].endswith(", door events 6\n")
    assert "door log id 7: not imported: no time" in imported["err"]
    assert (
        "1 door log rows older than DOOR_EVENT_RETENTION_DAYS (365) not imported"
        in (imported["err"])
    )


def test_it_adds_none_on_a_rerun_and_takes_only_new_rows(sources):
    url = sources.create(SQL.read_text())
    run_import("--source", url)
    before = events()

    out, _ = run_import("--source", url)
    assert out.endswith(", door events 0\n")
    assert events() == before

    deepharbor_sql(
        url,
        "INSERT INTO member_access_log (id, tag, board, access_point, granted, time)"
        " VALUES (9, '42', 'back', 'door 2', true, now())",
    )
    out, _ = run_import("--source", url)
    assert out.endswith(", door events 1\n")
    assert set(events()) - set(before) == {"dh-9"}


def test_it_imports_a_deep_harbor_without_a_door_log(sources):
    url = sources.create(SQL.read_text())
    deepharbor_sql(url, "DROP TABLE member_access_log")

    out, _ = run_import("--source", url)

    assert out.startswith("imported 19,")
    assert out.endswith(", door events 0\n")
    assert not DoorEvent.objects.exists()
