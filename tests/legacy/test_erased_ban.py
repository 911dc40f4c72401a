"""The import refuses a Deep Harbor row when any of its addresses, primary or secondary,
with or without a `+tag`, belongs to an erased, banned member (README, "Privacy")."""

import pytest

from legacy.models import ImportedRow, Outcome
from members.models import Member
from tests.factories import MemberFactory, erased
from tests.legacy.conftest import SQL, deepharbor_sql, run_import

pytestmark = pytest.mark.django_db

ROWS = """INSERT INTO member (id, identity, status) VALUES
  (20, '{"first_name": "Zed", "active_directory_username": "zed20",
         "emails": [{"type": "primary", "email_address": "zed.new@example.org"},
                    {"type": "secondary", "email_address": "ZED@example.org"}]}',
   '{"membership_status": "active"}'),
  (21, '{"first_name": "Zed", "active_directory_username": "zed21",
         "emails": [{"type": "secondary", "email_address": "zed+door@example.org"},
                    {"type": "primary", "email_address": "zed.other@example.org"}]}',
   '{"membership_status": "active"}'),
  (22, '{"first_name": "Zoe", "active_directory_username": "zoe22",
         "emails": [{"type": "primary", "email_address": "zoe@example.org"},
                    {"type": "secondary", "email_address": "zoe.work@example.org"}]}',
   '{"membership_status": "active"}')"""


def test_it_refuses_a_row_whose_secondary_address_is_an_erased_ban(sources):
    url = sources.create(SQL.read_text())
    deepharbor_sql(url, ROWS)
    ban = erased(MemberFactory(user__email="zed@example.org", membership="banned"))

    out, err = run_import("--source", url)

    assert not Member.objects.filter(legacy_id__in=[20, 21]).exists()
    for legacy_id in (20, 21):
        row = ImportedRow.objects.get(legacy_id=legacy_id)
        assert (row.outcome, row.member_id) == (Outcome.ERASED, None)
        assert f"legacy id {legacy_id}: not imported: an erased, banned member's email" in err
    assert "zed" not in str(list(ImportedRow.objects.values_list("detail", flat=True)))
    # A row with secondary addresses of its own is imported as before.
    assert Member.objects.get(legacy_id=22).email == "zoe@example.org"
    assert Member.objects.exclude(pk=ban.pk).filter(email__startswith="zed").count() == 0
    assert out.startswith("imported 20,")
