"""The keys of each JSON column as the structured member form edits them, generated
from the shapes (members/shapes.py): each key's form field name, label and kind of
input, and the form field for it."""

import typing
from collections.abc import Callable
from dataclasses import dataclass

from django import forms

from members import shapes
from members.models import Member
from staff.fields import NameChoiceField, NumberField, TagListField, TimestampField

# The editing kind of a key is its kind in the shapes (shapes.key_kind), except these.
_EDITED_AS = {
    shapes.KeyKind.TEXT_LIST: "names",
    shapes.KeyKind.OBJECT_LIST: "readonly",  # identity.emails: follows the email field
}


def _kind(column: str, key: str) -> str:
    kind = shapes.key_kind(column, key)
    return _EDITED_AS.get(kind, kind.value)


# Keys whose editing is more than their type says.
_SPECIAL = {
    ("status", "membership_level"): "plan",
    ("authorizations", "authorizations"): "physical",
    ("authorizations", "computer_authorizations"): "computer",
}


@dataclass(frozen=True)
class KeySpec:
    column: str
    key: str  # as stored
    attr: str  # on the shape's model
    name: str  # the form field's name
    kind: str
    label: str


def _key_specs() -> dict[str, list[KeySpec]]:
    every_key = [k for c in shapes.COLUMNS if c != "notes" for k in shapes.keys(c)]
    model_fields = {f.name for f in Member._meta.get_fields()}
    specs: dict[str, list[KeySpec]] = {}
    for column in shapes.COLUMNS:
        specs[column] = []
        if column == "notes":
            continue  # a list, only ever appended to: the "add a note" field
        for attr, info in shapes.SHAPES[column].model_fields.items():
            key = info.alias or attr
            kind = _SPECIAL.get((column, key)) or _kind(column, key)
            # The key's own name where it is unambiguous (`membership_status`).
            clash = every_key.count(key) > 1 or key in model_fields or key in shapes.COLUMNS
            name = f"{column}__{key}" if clash else key
            specs[column].append(KeySpec(column, key, attr, name, kind, shapes.label(column, key)))
    return specs


KEY_SPECS = _key_specs()
SPEC_BY_NAME = {spec.name: spec for specs in KEY_SPECS.values() for spec in specs}


def fill_field(column: str) -> str:
    return f"{column}__fill"


ADD_NOTE = "add_note"


class _CommonFieldArgs(typing.TypedDict):
    """What every structured field is built with."""

    required: bool
    label: str
    show_hidden_initial: bool


def _date_field(**common) -> forms.Field:
    return forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        **common,
    )


def _status_field(**common) -> forms.Field:
    return forms.ChoiceField(choices=[("", "(none)"), *shapes.MemberStatus.choices], **common)


def _plan_field(**common) -> forms.Field:
    # The plans' names are filled in per form (StructuredMemberForm).
    return forms.ChoiceField(choices=[], **common)


def _names_field(**common) -> forms.Field:
    # The catalog's names are filled in per form (StructuredMemberForm).
    return NameChoiceField(choices=[], **common)


def _readonly_field(**common) -> forms.Field:
    return forms.CharField(
        disabled=True,
        **{**common, "show_hidden_initial": False},
        help_text="Follows the email field above; other addresses are kept.",
        widget=forms.TextInput(attrs={"size": 60}),
    )


# The form field of each kind of key.
_FIELDS: dict[str, Callable[..., forms.Field]] = {
    "text": forms.CharField,
    "text_or_number": forms.CharField,
    "boolean": forms.BooleanField,
    "number": NumberField,
    "date": _date_field,
    "timestamp": TimestampField,
    "membership_status": _status_field,
    "plan": _plan_field,
    "rfid_tags": TagListField,
    "physical": _names_field,
    "computer": _names_field,
    "names": _names_field,
    "readonly": _readonly_field,
}


def form_field(spec: KeySpec) -> forms.Field:
    common: _CommonFieldArgs = {"required": False, "label": spec.label, "show_hidden_initial": True}
    return _FIELDS[spec.kind](**common)
