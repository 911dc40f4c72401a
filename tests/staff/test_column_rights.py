"""Column rights on every staff path, walked as a matrix: each role (the groups of the
data migration) x each admin URL x each JSON column, view and change, checking what the
page shows and what the database holds afterwards. One database setup per role; each
cell that writes runs in a savepoint rolled back after its checks."""

import json

import pytest
from django.db import transaction

from members import shapes
from members.grants import authorization_grant
from members.models import Authorization, AuthorizationGrant, AuthorizationKind, Member
from staff.keys import KEY_SPECS
from tests.factories import MemberFactory, StaffFactory, logged_in
from tests.roles import staff_in
from tests.staff.formdata import change_page_data, form_fields

LIST = "/admin/members/member/"
ALL = frozenset(shapes.COLUMNS)

# The README's roles ("Staff roles and tool authorizations"), written out here rather than
# read from the migration: (view, change).
EXPECTED = {
    "Administrator": (ALL, ALL),
    "Board": ({"identity", "status", "notes"}, {"status", "notes"}),
    "Authorizer": ({"identity", "authorizations", "notes"}, {"authorizations", "notes"}),
    "Onboarder": ({"identity", "status", "forms", "access"}, {"forms", "access"}),
    "Door logs": ({"identity"}, set()),
}
# What each role may do besides the columns.
MAY_ACTIVATE = {"Administrator", "Onboarder"}
MAY_OPEN_AUTHORIZE = {"Administrator", "Authorizer"}


class Rollback(Exception):
    pass


def _name(column: str, key: str) -> str:
    return next(spec.name for spec in KEY_SPECS[column] if spec.key == key)


# Per column: a marker value stored in it (seen on a page only with the view right), the
# form field an edit changes, the value posted, and how to read the result back.
MARKERS = {
    "identity": "Idmark",
    "status": "Statusmark",
    "connections": "Connmark",
    "forms": "Formsmark",
    "notes": "Notesmark",
    "access": "0000007777",
    "authorizations": "Authmark",
    "extras": "Extrasmark",
}
EDITS = {
    "identity": (_name("identity", "nickname"), "Edited", lambda m: m.identity["nickname"]),
    "status": (
        _name("status", "membership_status"),
        "suspended",
        lambda m: m.status["membership_status"],
    ),
    "connections": (
        _name("connections", "discord_username"),
        "edited",
        lambda m: m.connections["discord_username"],
    ),
    "forms": (_name("forms", "id_check_1"), "IL", lambda m: m.forms["id_check_1"]),
    "notes": ("add_note", "Edited note", lambda m: m.notes[-1]["note"]),
    "access": (
        _name("access", "rfid_tags"),
        ["0000007777", "4242"],
        lambda m: m.access["rfid_tags"],
    ),
    "authorizations": (
        _name("authorizations", "computer_authorizations"),
        ["Authmark", "Wiki"],
        lambda m: m.authorizations["computer_authorizations"],
    ),
    "extras": (_name("extras", "storage_area"), "Shelf 9", lambda m: m.extras["storage_area"]),
}
EDITED = {
    "identity": "Edited",
    "status": "suspended",
    "connections": "edited",
    "forms": "IL",
    "notes": "Edited note",
    "access": ["0000007777", "0000004242"],
    "authorizations": ["Authmark", "Wiki"],
    "extras": "Shelf 9",
}


def _member():
    member = MemberFactory(
        access={"rfid_tags": [MARKERS["access"]]},
        notes=[{"note": MARKERS["notes"], "from": "bo", "timestamp": None}],
    )
    member.identity = {**member.identity, "nickname": MARKERS["identity"]}
    member.status = {**member.status, "membership_level": MARKERS["status"]}
    member.connections = {**member.connections, "discord_username": MARKERS["connections"]}
    member.forms = {**member.forms, "id_check_2": MARKERS["forms"]}
    member.extras = {**member.extras, "storage_area": MARKERS["extras"]}
    member.save()
    tool = Authorization.objects.create(name=MARKERS["authorizations"], kind="computer")
    authorization_grant(member_id=member.pk, authorization=tool, by=StaffFactory())
    Authorization.objects.create(name="Wiki", kind=AuthorizationKind.COMPUTER)
    return Member.objects.get(pk=member.pk)


def _row(member):
    return (
        Member.objects.values(*shapes.COLUMNS, "email", "username").get(pk=member.pk),
        sorted(AuthorizationGrant.objects.filter(member=member).values_list("pk", "revoked_at")),
    )


class Matrix:
    """The cells that disagree with EXPECTED, collected so one failure lists them all."""

    def __init__(self):
        self.wrong: list[str] = []

    def check(self, ok: bool, cell: str):
        if not ok:
            self.wrong.append(cell)


def _change_page(matrix, client, member, view, change):
    url = f"{LIST}{member.pk}/change/"
    html = client.get(url).content.decode()
    fields, disabled = form_fields(html)
    for column in shapes.COLUMNS:
        name = EDITS[column][0]
        shown = MARKERS[column] in html
        matrix.check(shown == (column in view), f"change page shows {column}: {shown}")
        editable = name in fields and name not in disabled
        matrix.check(editable == (column in change), f"change page edits {column}: {editable}")
    matrix.check(('name="email"' in html) == ("identity" in view), "change page email")


def _posts(matrix, client, member, view, change, may_change_member):
    url = f"{LIST}{member.pk}/change/"
    for column in shapes.COLUMNS:
        name, value, read = EDITS[column]
        before = _row(member)
        try:
            with transaction.atomic():
                data = change_page_data(client, url, **{name: value})
                response = client.post(url, data)
                after = Member.objects.get(pk=member.pk)
                if column in change:
                    matrix.check(response.status_code == 302, f"POST {column}: refused")
                    matrix.check(read(after) == EDITED[column], f"POST {column}: not written")
                else:
                    matrix.check(response.status_code in (200, 403), f"POST {column}: answered ok")
                    matrix.check(_row(member) == before, f"POST {column}: written")
                    if response.status_code == 200 and may_change_member:
                        matrix.check(
                            "You may not change" in response.content.decode(),
                            f"POST {column}: no reason",
                        )
                # The raw column's name posted to the same URL is refused alike.
                if column not in change:
                    data[column] = json.dumps(shapes.default(column))
                    client.post(url, data)
                    matrix.check(_row(member) == before, f"raw POST {column}: written")
                raise Rollback
        except Rollback:
            pass


def _list(matrix, client, member, view):
    html = client.get(LIST).content.decode()
    for column_name, needs in (("email", "identity"), ("membership", "status")):
        matrix.check(
            (f"column-{column_name}" in html) == (needs in view), f"list column {column_name}"
        )
    for query, needs in ((member.email, "identity"), ("7777", "access")):
        found = client.get(LIST, {"q": query}).context["cl"].result_count
        matrix.check((found == 1) == (needs in view), f"search by {needs}: {found}")


def _history(matrix, client, member, view):
    html = client.get(f"{LIST}{member.pk}/history/").content.decode()
    for column in shapes.COLUMNS:
        shown = MARKERS[column] in html
        matrix.check(shown == (column in view), f"history shows {column}: {shown}")


def _merge(matrix, client, member, view, change):
    other = MemberFactory()
    page = client.get(f"{LIST}{member.pk}/merge/", {"with": other.pk})
    matrix.check((page.status_code == 200) == (view == ALL), f"merge page {page.status_code}")
    if change != ALL:
        before = _row(member)
        posted = client.post(f"{LIST}{member.pk}/merge/", {"with": other.pk, "survivor": member.pk})
        matrix.check(posted.status_code == 403, f"merge POST {posted.status_code}")
        matrix.check(
            _row(member) == before
            and Member.objects.filter(pk=other.pk, merged_into=None).exists(),
            "merge POST wrote",
        )


def _activation(matrix, client, group, user):
    pending = MemberFactory(membership="pending")
    client.post(
        LIST,
        {
            "action": "activate_members",
            "_selected_action": [pending.pk],
            "confirm": "yes",
            "id_checked_on": "2026-11-20",
            "id_checked_by": user.pk,
            "waiver_signed_on": "2026-11-21",
            "orientation_completed_on": "2026-11-22",
        },
    )
    active = Member.objects.get(pk=pending.pk).membership_status == "active"
    matrix.check(active == (group in MAY_ACTIVATE), f"activation: {active}")


def _repair(matrix, client, group):
    partial = MemberFactory(extras=None)
    client.post(LIST, {"action": "repair_members", "_selected_action": [partial.pk]})
    repaired = Member.objects.get(pk=partial.pk).extras is not None
    matrix.check(repaired == (group == "Administrator"), f"repair: {repaired}")


def _authorize(matrix, client, member, group):
    url = f"{LIST}{member.pk}/authorizations/"
    response = client.get(url)
    may = group in MAY_OPEN_AUTHORIZE
    matrix.check((response.status_code == 200) == may, f"authorize page {response.status_code}")
    wiki = Authorization.objects.get(name="Wiki")
    client.post(url, {"authorization": wiki.pk, "grant": "Grant"})
    granted = AuthorizationGrant.objects.filter(member=member, authorization=wiki).exists()
    matrix.check(granted == may, f"authorize grant: {granted}")


@pytest.mark.django_db
@pytest.mark.parametrize("group", list(EXPECTED))
def test_it_gives_each_role_exactly_its_columns_on_every_admin_page(roles, group):
    view, change = EXPECTED[group]
    user = staff_in(roles[group])
    client = logged_in(user)
    member = _member()
    may_change_member = user.has_perm("members.change_member")
    matrix = Matrix()
    _list(matrix, client, member, view)
    _change_page(matrix, client, member, view, change)
    _posts(matrix, client, member, view, change, may_change_member)
    _history(matrix, client, member, view)
    _merge(matrix, client, member, view, change)
    _activation(matrix, client, group, user)
    _repair(matrix, client, group)
    _authorize(matrix, client, member, group)
    assert matrix.wrong == [], f"{group}: {matrix.wrong}"


@pytest.mark.django_db
def test_it_leaves_the_fingerprints_of_hidden_columns_off_the_page(roles):
    member = _member()
    client = logged_in(staff_in(roles["Authorizer"]))
    fields, _ = form_fields(client.get(f"{LIST}{member.pk}/change/").content.decode())
    assert set(json.loads(fields["loaded"])) == {"login", "identity", "authorizations", "notes"}
