"""The shape of every JSON column of `Member` (docs/shapes.md), declared once.

One pydantic model per column: known keys typed, every key optional (missing or null)
on read, unknown keys kept (`extra="allow"`). Everything else that needs a column's keys
takes them from here: the scaffolding defaults, the admin's validation, the dashboard's
readers, the import's mapping, the export, and SQL that names keys.

Public API (stable):

    COLUMNS            the eight JSON columns, "identity" first
    NULLABLE_COLUMNS   the seven that may be NULL (all but "identity")
    SHAPES             column -> model; "notes" maps to `Note`, the model of one entry
    MemberStatus       the membership statuses (a TextChoices)
    KeyKind            what a key holds (a StrEnum; see key_kind)

    Identity, Email (one entry of identity.emails), Status, Connections, Forms,
    Note (one entry of the notes list), Access, Authorizations, Extras
                       the models, all subclasses of `Shape`

    note_entry(text, *, author, at="now")
                       a new entry of the notes list, as stored
    default(column)    a fresh copy of the column's default JSON value (what
                       scaffolding fills a NULL column with)
    label(column, key=None)
                       what staff read for a column or one of its keys ("Membership
                       status", not status.membership_status); COLUMN_LABELS
    keys(column)       the column's known keys, in declaration order, as stored
                       (for "notes": the keys of one entry); for SQL built from them
    key_kind(column, key)
                       what a key holds, a `KeyKind` (text, boolean, number, date,
                       timestamp, membership_status, a list of tags, of text or of
                       objects...), read from its type here; the one reading of a
                       key's type for the admin's fields, erasure, the import and the
                       change feed
    validate(column, value, *, kept=())
                       strict check of a whole raw column value: None when it fits,
                       else one sentence ('The value "birthday" is not a real date.').
                       NULL fits a nullable column; any key may be missing or null;
                       an unknown key is refused unless it is in `kept` (the unknown
                       keys a legacy row already holds)
    read(column, raw)  tolerant read of a raw column value; never raises. Returns
                       None when the column is NULL or not of the column's JSON type
                       ("unknown"); else a model instance ("notes": a list of `Note`)
                       whose attributes are typed values, or None where the key is
                       missing, null or holds a value of the wrong type. Such keys are
                       told apart by `reading.unreadable` (the stored keys whose value
                       could not be read). Unknown keys are kept as extra attributes.

Typed values: text is `str`, dates `datetime.date`, timestamps `datetime.datetime`,
booleans `bool`, numbers `int | float`, `membership_status` a `MemberStatus` (any case
and surrounding spaces in storage), RFID tags their 10-digit form.

A reading is for showing and deciding, never for writing back: writes stay key-level
merges (`MemberQuerySet.merge_json_columns`), so a value staff have not touched stays
as it was, however wrong its type.
"""

import copy
import datetime
import re
import types
import typing
from enum import StrEnum
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from members.jsonb import unstorable
from members.rfid import rfid_tag_form

__all__ = [
    "COLUMNS",
    "NULLABLE_COLUMNS",
    "SHAPES",
    "Access",
    "Authorizations",
    "COLUMN_LABELS",
    "Connections",
    "Email",
    "Extras",
    "Forms",
    "Identity",
    "KeyKind",
    "MemberStatus",
    "Note",
    "Shape",
    "Status",
    "default",
    "key_kind",
    "keys",
    "label",
    "note_entry",
    "read",
    "validate",
]


class KeyKind(StrEnum):
    """What a key of a JSON column holds, read from its type in the shapes: how staff
    edit it, what erasure blanks, how the import fixes a drifted value, which snapshot
    fields are lists."""

    TEXT = "text"
    BOOLEAN = "boolean"
    NUMBER = "number"
    TEXT_OR_NUMBER = "text_or_number"
    DATE = "date"
    TIMESTAMP = "timestamp"
    MEMBERSHIP_STATUS = "membership_status"
    RFID_TAGS = "rfid_tags"  # a list of RFID tags
    TEXT_LIST = "text_list"  # a list of text (names)
    OBJECT_LIST = "object_list"  # a list of objects (identity.emails)

    @property
    def is_list(self) -> bool:
        return self in (KeyKind.RFID_TAGS, KeyKind.TEXT_LIST, KeyKind.OBJECT_LIST)


class MemberStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    LAPSED = "lapsed", "Lapsed"
    SUSPENDED = "suspended", "Suspended"
    BANNED = "banned", "Banned"


# --- value types: each checks a stored JSON value and gives its typed form ---------

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAG_RE = re.compile(r"^[0-9]{1,10}$")


def _fail(code: str, message: str):
    # The message is shown to staff as is, after the key it is about.
    return PydanticCustomError(code, message)


def _text(value):
    if isinstance(value, str):
        return value
    raise _fail("text", "must be text")


def _boolean(value):
    if isinstance(value, bool):
        return value
    raise _fail("boolean", "must be true or false")


def _number(value):
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise _fail("number", "must be a number")


def _text_or_number(value):
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise _fail("text_or_number", "must be text or a number")


def _date(value):
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise _fail("date", 'must be a date written "YYYY-MM-DD"')
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise _fail("date", "is not a real date") from None


def _timestamp(value):
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _fail("timestamp", "must be an ISO timestamp")


def _email_address(value):
    _text(value)
    if value:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise _fail("email", "is not a valid email address") from None
    return value


def _membership_status(value):
    if isinstance(value, str) and value.strip().lower() in MemberStatus.values:
        return MemberStatus(value.strip().lower())
    raise _fail("membership_status", "must be one of " + ", ".join(MemberStatus.values))


def _rfid_tag(value):
    if isinstance(value, str) and _TAG_RE.match(value.strip()):
        return rfid_tag_form(value)
    raise _fail("rfid_tag", "must be a tag of up to 10 digits, written as text")


def _list_of(what: str):
    def check(value):
        if isinstance(value, list):
            return value
        raise _fail("list", f"must be a list of {what}")

    return BeforeValidator(check)


Text = Annotated[str, PlainValidator(_text)]
Boolean = Annotated[bool, PlainValidator(_boolean)]
Number = Annotated[int | float, PlainValidator(_number)]
TextOrNumber = Annotated[str | int | float, PlainValidator(_text_or_number)]
Date = Annotated[datetime.date, PlainValidator(_date)]
Timestamp = Annotated[datetime.datetime, PlainValidator(_timestamp)]
EmailAddress = Annotated[str, PlainValidator(_email_address)]
Membership = Annotated[MemberStatus, PlainValidator(_membership_status)]
RfidTagText = Annotated[str, PlainValidator(_rfid_tag)]


def key(initial: Any = None, *, label: str, **kwargs):
    """A key: optional (None) when read; `initial` is its value in the column default;
    `label` what staff and members read for it (the admin, the history, the merge)."""
    return Field(default=None, title=label, json_schema_extra={"initial": initial}, **kwargs)


# --- the models ------------------------------------------------------------------


class Shape(BaseModel):
    """Base of the column models: unknown keys kept; `unreadable` after a read()."""

    model_config = ConfigDict(extra="allow", frozen=True)

    _unreadable: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def unreadable(self) -> frozenset[str]:
        """The stored keys whose value read() could not read (wrong type or form)."""
        return self._unreadable

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data, info: ValidationInfo):
        if not isinstance(data, dict):
            raise _fail("object", "must be an object")
        context = info.context or {}
        if context.get("strict"):
            known = set(_stored_keys(cls))
            if cls is context.get("top"):
                known |= set(context.get("kept", ()))
            for name in data:
                if name not in known:
                    raise _fail("unknown_key", f'has an unknown key "{name}"')
        return data


class Email(Shape):
    type: Text | None = key("primary", label="Kind")
    email_address: EmailAddress | None = key("", label="Address")


class Identity(Shape):
    first_name: Text | None = key("", label="First name")
    last_name: Text | None = key("", label="Last name")
    nickname: Text | None = key("", label="Preferred name")
    pronouns: Text | None = key("", label="Pronouns")
    birthday: Date | None = key(None, label="Birthday")
    emails: Annotated[list[Email], _list_of("email objects")] | None = key(
        [], label="Email addresses"
    )
    active_directory_username: Text | None = key("", label="Active Directory username")
    nametag_subtitle: Text | None = key("", label="Nametag subtitle")
    theme_song_url: Text | None = key("", label="Theme song URL")
    theme_song_duration: Number | None = key(None, label="Theme song duration (seconds)")


class Status(Shape):
    membership_status: Membership | None = key(
        MemberStatus.PENDING.value, label="Membership status"
    )
    membership_level: Text | None = key("New Member", label="Membership plan")
    member_since: Date | None = key(None, label="Member since")
    renewal_date: Date | None = key(None, label="Renewal date")
    waiver_signed: Boolean | None = key(False, label="Waiver signed")
    stripe_customer_id: Text | None = key("", label="Stripe customer")
    stripe_subscription_id: Text | None = key("", label="Stripe subscription")
    stripe_product_id: Text | None = key("", label="Stripe product")
    subscription_status: Text | None = key("", label="Subscription status")
    payment_problem: Boolean | None = key(False, label="Payment problem")


class Connections(Shape):
    phone: Text | None = key("", label="Phone")
    discord_username: Text | None = key("", label="Discord username")


class Forms(Shape):
    waiver_signed_date: Date | None = key(None, label="Waiver signed on")
    # The ID document's issuer and number (Deep Harbor's use, e.g. "IL", "DL-1234").
    id_check_1: Text | None = key("", label="ID document 1")
    id_check_2: Text | None = key("", label="ID document 2")
    # When and by which staff username the in-person check was done (activation).
    id_check_date: Date | None = key(None, label="ID checked on")
    id_check_by: Text | None = key("", label="ID checked by")
    terms_of_use_accepted: Boolean | None = key(False, label="Terms of use accepted")
    terms_accepted_at: Timestamp | None = key(None, label="Terms accepted at")
    orientation_completed_date: Date | None = key(None, label="Orientation completed on")
    essentials_form: Text | None = key("", label="Essentials form")
    is_21_or_older: Boolean | None = key(False, label="21 or older")


class Note(Shape):
    """One entry of the `notes` list."""

    note: Text | None = key("", label="Note")
    # "from" is a Python keyword: the attribute is from_, the stored key "from".
    from_: Text | None = key("", alias="from", label="Written by")
    timestamp: Timestamp | None = key(None, label="Written at")


def note_entry(
    text: str, *, author: str, at: datetime.datetime | None | Literal["now"] = "now"
) -> dict[str, Any]:
    """A new entry of the `notes` list as stored (the keys of `Note`): its text, who
    wrote it and when, as an ISO timestamp; `at=None` for an undated note (Deep
    Harbor kept some)."""
    moment = timezone.now() if at == "now" else at
    return {
        "note": text,
        "from": author,
        "timestamp": moment.isoformat() if moment is not None else None,
    }


class Access(Shape):
    rfid_tags: Annotated[list[RfidTagText], _list_of("RFID tags")] | None = key(
        [], label="RFID tags"
    )


class Authorizations(Shape):
    authorizations: Annotated[list[Text], _list_of("text")] | None = key(
        [], label="Tool authorizations"
    )
    computer_authorizations: Annotated[list[Text], _list_of("text")] | None = key(
        [], label="Computer authorizations"
    )


class Extras(Shape):
    storage_id: TextOrNumber | None = key(None, label="Storage slot")
    storage_area: Text | None = key(None, label="Storage area")


SHAPES: dict[str, type[Shape]] = {
    "identity": Identity,
    "status": Status,
    "connections": Connections,
    "forms": Forms,
    "notes": Note,
    "access": Access,
    "authorizations": Authorizations,
    "extras": Extras,
}
COLUMNS = tuple(SHAPES)
NULLABLE_COLUMNS = tuple(c for c in COLUMNS if c != "identity")
# What each column is called where staff read it.
COLUMN_LABELS = {
    "identity": "Identity",
    "status": "Membership",
    "connections": "Contact",
    "forms": "Forms and checks",
    "notes": "Notes",
    "access": "Door access (RFID tags)",
    "authorizations": "Authorizations",
    "extras": "Storage",
}


# --- defaults and keys -------------------------------------------------------------


def label(column: str, key: str | None = None) -> str:
    """What staff read for a column, or for one of its keys ("notes": a key of one
    entry); an unknown key is shown as stored."""
    model = _shape(column)
    if key is None:
        return COLUMN_LABELS[column]
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field.title or key
    return key


def _stored_keys(model: type[Shape]) -> tuple[str, ...]:
    return tuple(field.alias or name for name, field in model.model_fields.items())


def _shape(column: str) -> type[Shape]:
    try:
        return SHAPES[column]
    except KeyError:
        raise ValueError(f"not a JSON column: {column!r}") from None


def keys(column: str) -> tuple[str, ...]:
    """The column's known keys as stored ("notes": those of one entry)."""
    return _stored_keys(_shape(column))


# The kind of each value type the models use; a list's kind is its item's.
_VALUE_KINDS: dict[Any, KeyKind] = {
    Text: KeyKind.TEXT,
    EmailAddress: KeyKind.TEXT,
    Boolean: KeyKind.BOOLEAN,
    Number: KeyKind.NUMBER,
    TextOrNumber: KeyKind.TEXT_OR_NUMBER,
    Date: KeyKind.DATE,
    Timestamp: KeyKind.TIMESTAMP,
    Membership: KeyKind.MEMBERSHIP_STATUS,
}
_ITEM_KINDS: dict[Any, KeyKind] = {RfidTagText: KeyKind.RFID_TAGS, Text: KeyKind.TEXT_LIST}


def _kind_of(annotation) -> KeyKind:
    """The kind behind a key's annotation: `X | None`, X a value type or an annotated
    list of them (or of objects)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if annotation in _VALUE_KINDS:
        return _VALUE_KINDS[annotation]
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, Shape):
            return KeyKind.OBJECT_LIST
        if item in _ITEM_KINDS:
            return _ITEM_KINDS[item]
    raise TypeError(f"no KeyKind for {annotation!r}")


def _key_kinds(model: type[Shape]) -> dict[str, KeyKind]:
    return {
        field.alias or name: _kind_of(field.annotation)
        for name, field in model.model_fields.items()
    }


# Computed once, when the module loads: a key of a type with no kind fails here.
_KEY_KINDS = {column: _key_kinds(model) for column, model in SHAPES.items()}


def key_kind(column: str, key: str) -> KeyKind:
    """What the column's key holds (as stored; for "notes": a key of one entry)."""
    _shape(column)
    try:
        return _KEY_KINDS[column][key]
    except KeyError:
        raise ValueError(f"not a key of {column}: {key!r}") from None


def _initial(model: type[Shape]) -> dict:
    return {
        field.alias or name: copy.deepcopy(field.json_schema_extra["initial"])  # type: ignore[index]
        for name, field in model.model_fields.items()
    }


def default(column: str):
    """A fresh copy of the column's default value ("notes": an empty list)."""
    model = _shape(column)
    return [] if column == "notes" else _initial(model)


# --- strict validation (the admin, the import) -------------------------------------

_NOTES = TypeAdapter(Annotated[list[Note], _list_of("note objects")])


def _where(loc) -> str:
    return " ".join(f"item {part + 1}" if isinstance(part, int) else f'"{part}"' for part in loc)


def validate(column: str, value, *, kept=()) -> str | None:
    """Why `value` does not fit the column, as one sentence, or None when it fits."""
    model = _shape(column)
    if value is None:
        return None if column in NULLABLE_COLUMNS else "This column cannot be empty."
    error = unstorable(value)
    if error:
        return f"The value {error}."
    context = {"strict": True, "top": model, "kept": frozenset(kept)}
    try:
        if column == "notes":
            _NOTES.validate_python(value, context=context | {"top": None})
        else:
            model.model_validate(value, context=context)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = _where(first["loc"])
        return f"The value {where + ' ' if where else ''}{first['msg']}."
    return None


# --- tolerant reading (the dashboard, Member's properties, the webhook) ------------

_ADAPTERS: dict[type[Shape], dict[str, tuple[str, TypeAdapter]]] = {}


def _value_type(field: FieldInfo) -> Any:
    """What one value of the field is validated as: its annotation with the constraints
    pydantic keeps apart in `metadata`. Any: an Annotated form built at run time."""
    if field.metadata:
        return Annotated[(field.annotation, *field.metadata)]
    return field.annotation


def _adapters(model: type[Shape]) -> dict[str, tuple[str, TypeAdapter]]:
    """Per attribute: its stored key and a validator of one value."""
    found = _ADAPTERS.get(model)
    if found is None:
        found = {
            name: (
                field.alias or name,
                TypeAdapter(_value_type(field)),
            )
            for name, field in model.model_fields.items()
        }
        _ADAPTERS[model] = found
    return found


def _read_object(model: type[Shape], raw) -> Shape:
    values: dict[str, Any] = {}
    unreadable: set[str] = set()
    data = raw if isinstance(raw, dict) else {}
    if not isinstance(raw, dict):
        unreadable.update(_stored_keys(model))
    for name, (stored, adapter) in _adapters(model).items():
        value = data.get(stored)
        if value is not None:
            try:
                value = adapter.validate_python(value)
            except ValidationError:
                value = None
                unreadable.add(stored)
        values[name] = value
    reading = model.model_construct(**values)
    known = set(_stored_keys(model))
    # Unknown keys are kept as they are stored (extra attributes).
    object.__setattr__(
        reading, "__pydantic_extra__", {k: v for k, v in data.items() if k not in known}
    )
    reading._unreadable = frozenset(unreadable)
    return reading


def read(column: str, raw):
    """A tolerant, typed reading of a raw column value, or None ("unknown")."""
    model = _shape(column)
    try:
        if column == "notes":
            return [_read_object(Note, entry) for entry in raw] if isinstance(raw, list) else None
        return _read_object(model, raw) if isinstance(raw, dict) else None
    except (RecursionError, TypeError, ValueError):
        # Nothing a row holds should get here; a reader must never turn it into a 500.
        return None
