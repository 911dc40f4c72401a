"""members/shapes.py is the one declaration of the JSON columns: these tests tie the
defaults, the admin's strict validation and the tolerant readers to it, so a key
added to a shape is accepted, defaulted and read everywhere at once."""

import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from members import scaffolding, shapes
from members.shapes import COLUMNS as JSON_COLUMNS
from members.shapes import MemberStatus
from staff.raw_form import MemberAdminForm

# Anything a JSON column can hold (what a legacy import or raw SQL may have left).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _objects(column):
    """Objects of the column's keys (some missing) holding anything, plus unknown keys."""
    known = st.sampled_from(shapes.keys(column))
    return st.dictionaries(known | st.text(max_size=8), json_values, max_size=8)


def test_it_declares_every_json_column_once():
    assert shapes.COLUMNS == (
        "identity",
        "status",
        "connections",
        "forms",
        "notes",
        "access",
        "authorizations",
        "extras",
    )
    assert shapes.COLUMNS[1:] == shapes.NULLABLE_COLUMNS
    assert JSON_COLUMNS == shapes.COLUMNS
    assert set(scaffolding.CRITICAL_COLUMNS + scaffolding.SCAFFOLDING_COLUMNS) == set(
        shapes.NULLABLE_COLUMNS
    )


@pytest.mark.parametrize("column", shapes.COLUMNS)
def test_it_gives_defaults_that_hold_exactly_the_shape_keys_and_validate(column):
    value = scaffolding.default(column)
    assert value == shapes.default(column)
    assert shapes.validate(column, value) is None
    if column == "notes":
        assert value == []
    else:
        assert tuple(value) == shapes.keys(column)
        reading = shapes.read(column, value)
        assert reading.unreadable == frozenset()
        assert reading.model_extra == {}


def test_it_hands_out_a_fresh_default_each_time():
    first = shapes.default("access")
    first["rfid_tags"].append("0000000001")
    assert shapes.default("access") == {"rfid_tags": []}


@pytest.mark.parametrize("column", [c for c in shapes.COLUMNS if c != "notes"])
def test_it_reads_every_key_the_admin_accepts(column):
    """Each key the strict validation accepts (set to null, the "not set" value) is a
    key the reader knows: an attribute on the reading, not an extra."""
    for key in shapes.keys(column):
        assert shapes.validate(column, {key: None}) is None
        reading = shapes.read(column, {key: None})
        assert getattr(reading, "from_" if key == "from" else key) is None
        assert reading.model_extra == {}


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_it_reads_whatever_the_admin_accepts_without_an_unreadable_key(data):
    column = data.draw(st.sampled_from([c for c in shapes.COLUMNS if c != "notes"]))
    value = data.draw(_objects(column))
    if shapes.validate(column, value, kept=set(value)) is None:
        assert shapes.read(column, value).unreadable == frozenset()


@settings(max_examples=300, deadline=None)
@given(column=st.sampled_from(shapes.COLUMNS), data=st.data())
def test_it_never_raises_on_any_stored_value(column, data):
    raw = data.draw(json_values | _objects("notes" if column == "notes" else column))
    error = shapes.validate(column, raw)
    assert error is None or error.endswith(".")
    reading = shapes.read(column, raw)
    if column == "notes":
        assert reading is None or len(reading) == len(raw)
    elif reading is not None:
        # Every stored key is either read, unreadable, or kept as an extra.
        known = set(shapes.keys(column))
        assert reading.unreadable <= known
        assert set(reading.model_extra) == set(raw) - known


@pytest.mark.parametrize("raw", [None, "text", 7, [], ["a"], True])
def test_it_reads_a_null_or_non_object_column_as_unknown(raw):
    assert shapes.read("status", raw) is None


def test_it_reads_missing_null_and_wrong_typed_keys_as_none_telling_them_apart():
    reading = shapes.read(
        "status",
        {
            "membership_status": " Active ",
            "member_since": "2026-01-15",
            "renewal_date": "next spring",
            "waiver_signed": None,
            "payment_problem": "yes",
            "legacy_flag": 1,
        },
    )
    assert reading.membership_status is MemberStatus.ACTIVE
    assert reading.member_since == datetime.date(2026, 1, 15)
    assert reading.renewal_date is None and reading.waiver_signed is None
    assert reading.subscription_status is None  # missing
    assert reading.payment_problem is None
    assert reading.unreadable == {"renewal_date", "payment_problem"}
    assert reading.legacy_flag == 1


def test_it_types_what_it_reads():
    forms = shapes.read(
        "forms",
        {"terms_accepted_at": "2026-01-15T10:00:00+00:00", "id_check_date": "2026-02-01"},
    )
    assert forms.terms_accepted_at == datetime.datetime(2026, 1, 15, 10, tzinfo=datetime.UTC)
    assert forms.id_check_date == datetime.date(2026, 2, 1)
    access = shapes.read("access", {"rfid_tags": ["42", "0012345678"]})
    assert access.rfid_tags == ["0000000042", "0012345678"]
    notes = shapes.read("notes", [{"note": "hi", "from": "staff"}, "not a note"])
    assert (notes[0].note, notes[0].from_) == ("hi", "staff")
    assert notes[1].unreadable == set(shapes.keys("notes"))
    identity = shapes.read("identity", {"emails": [{"type": "primary", "email_address": 3}]})
    assert identity.emails is None and identity.unreadable == {"emails"}


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("identity", None, "This column cannot be empty."),
        ("status", None, None),
        ("status", [], "The value must be an object."),
        ("identity", {"first_name": 1}, 'The value "first_name" must be text.'),
        ("identity", {"birthday": "1990-02-30"}, 'The value "birthday" is not a real date.'),
        (
            "identity",
            {"birthday": "12/10/1990"},
            'The value "birthday" must be a date written "YYYY-MM-DD".',
        ),
        (
            "identity",
            {"emails": [{"type": "primary", "email_address": "nope"}]},
            'The value "emails" item 1 "email_address" is not a valid email address.',
        ),
        (
            "identity",
            {"emails": [{"type": "primary", "shoe_size": 9}]},
            'The value "emails" item 1 has an unknown key "shoe_size".',
        ),
        ("identity", {"shoe_size": 9}, 'The value has an unknown key "shoe_size".'),
        (
            "status",
            {"membership_status": "gold"},
            'The value "membership_status" must be one of pending, active, lapsed, '
            "suspended, banned.",
        ),
        ("status", {"payment_problem": 1}, 'The value "payment_problem" must be true or false.'),
        ("forms", {"id_check_by": 5}, 'The value "id_check_by" must be text.'),
        (
            "forms",
            {"id_check_date": "soon"},
            'The value "id_check_date" must be a date written "YYYY-MM-DD".',
        ),
        (
            "forms",
            {"terms_accepted_at": "x"},
            'The value "terms_accepted_at" must be an ISO timestamp.',
        ),
        (
            "access",
            {"rfid_tags": ["12a"]},
            'The value "rfid_tags" item 1 must be a tag of up to 10 digits, written as text.',
        ),
        (
            "access",
            {"rfid_tags": "0000000001"},
            'The value "rfid_tags" must be a list of RFID tags.',
        ),
        ("extras", {"storage_id": True}, 'The value "storage_id" must be text or a number.'),
        ("notes", {}, "The value must be a list of note objects."),
        ("notes", [{"note": "x", "by": "y"}], 'The value item 1 has an unknown key "by".'),
        ("connections", {"phone": "a\x00b"}, "The value contains a NUL character."),
    ],
)
def test_it_explains_what_does_not_fit(column, value, message):
    assert shapes.validate(column, value) == message


def test_it_keeps_unknown_keys_a_legacy_row_already_holds():
    value = {"rfid_tags": [], "legacy_badge": "B-7"}
    assert shapes.validate("access", value) == 'The value has an unknown key "legacy_badge".'
    assert shapes.validate("access", value, kept={"legacy_badge"}) is None
    assert shapes.read("access", value).legacy_badge == "B-7"


@pytest.mark.django_db
def test_the_admin_form_validates_each_column_with_its_shape():
    from tests.factories import MemberFactory

    member = MemberFactory(access={"rfid_tags": [], "legacy_badge": "B-7"})
    data = {"email": member.email, "username": member.username}
    for column in JSON_COLUMNS:
        data[column] = json.dumps(getattr(member, column))
    data["status"] = json.dumps({"membership_status": "gold"})
    data["access"] = json.dumps({"rfid_tags": [], "legacy_badge": "B-8"})
    data["extras"] = json.dumps({"storage_id": None, "locker": 3})
    form = MemberAdminForm(data, instance=member)
    assert not form.is_valid()
    assert form.errors["status"] == [shapes.validate("status", {"membership_status": "gold"})]
    assert "access" not in form.errors  # a key the row already held
    assert form.errors["extras"] == ['The value has an unknown key "locker".']


def test_sql_gets_the_keys_from_the_shapes():
    assert shapes.keys("forms")[-1] == "is_21_or_older"
    assert {"id_check_date", "id_check_by"} <= set(shapes.keys("forms"))
    assert shapes.keys("notes") == ("note", "from", "timestamp")
    with pytest.raises(ValueError):
        shapes.keys("nope")


def test_it_gives_every_key_a_kind_read_from_its_type():
    kind = shapes.key_kind
    assert kind("identity", "first_name") == shapes.KeyKind.TEXT
    assert kind("identity", "birthday") == shapes.KeyKind.DATE
    assert kind("identity", "emails") == shapes.KeyKind.OBJECT_LIST
    assert kind("forms", "terms_accepted_at") == shapes.KeyKind.TIMESTAMP
    assert kind("status", "payment_problem") == shapes.KeyKind.BOOLEAN
    assert kind("status", "membership_status") == shapes.KeyKind.MEMBERSHIP_STATUS
    assert kind("access", "rfid_tags") == shapes.KeyKind.RFID_TAGS
    assert kind("authorizations", "authorizations") == shapes.KeyKind.TEXT_LIST
    assert kind("extras", "storage_id") == shapes.KeyKind.TEXT_OR_NUMBER
    assert kind("notes", "timestamp") == shapes.KeyKind.TIMESTAMP
    for column in JSON_COLUMNS:
        assert all(kind(column, key) in shapes.KeyKind for key in shapes.keys(column))
    with pytest.raises(ValueError):
        kind("status", "no_such_key")


def test_it_builds_note_entries_that_fit_the_note_shape():
    entry = shapes.note_entry("Paid in cash", author="staff")
    assert list(entry) == list(shapes.keys("notes"))
    assert (entry["note"], entry["from"]) == ("Paid in cash", "staff")
    assert shapes.validate("notes", [entry]) is None
    assert shapes.read("notes", [entry])[0].timestamp is not None
    undated = shapes.note_entry("old", author="", at=None)
    assert undated["timestamp"] is None
    assert shapes.validate("notes", [undated]) is None
