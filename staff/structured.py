"""The structured member form: every JSON column as fields generated from the shapes
(members/shapes.py, through staff/keys.py). Saves are key-level: only the keys staff
changed are written, merged into the row as it is under the lock; a NULL column is
filled through the scaffolding function; notes are only appended."""

import datetime
import math
import typing

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from dhportal.adminkit import plan_names
from members import scaffolding, shapes, validators
from members.models import Authorization, Member
from members.rfid import rfid_tag_form
from staff.display import json_preview
from staff.fields import tags_checked
from staff.keys import ADD_NOTE, KEY_SPECS, SPEC_BY_NAME, KeySpec, fill_field, form_field
from staff.locking import LockedMemberForm


def _shown_value(spec: KeySpec, reading):
    """The field's initial value from a tolerant reading (None where unreadable)."""
    value = getattr(reading, spec.attr, None) if reading is not None else None
    if value is None:
        return [] if spec.kind in ("rfid_tags", "physical", "computer", "names") else None
    if spec.kind == "membership_status":
        return value.value
    if spec.kind == "timestamp":
        return value.isoformat()
    if spec.kind == "text_or_number":
        return str(value)
    if spec.kind == "readonly":
        return json_preview(value)
    return value


def _readonly_text(stored, key: str) -> str:
    """A key the form shows but does not edit (identity.emails: it follows the email
    field), as readable text."""
    value = stored.get(key) if isinstance(stored, dict) else None
    if isinstance(value, list) and all(isinstance(e, dict) for e in value):
        return "; ".join(
            f"{e.get('type') or '(no type)'}: {e.get('email_address') or ''}" for e in value
        )
    return "" if value is None else json_preview(value)


def _stored_value(spec: KeySpec, value, before):
    """A cleaned form value as the column stores it."""
    if value is None or value == "":
        if spec.kind == "text":
            return ""
        return None if spec.kind not in ("rfid_tags",) else []
    if isinstance(value, datetime.date):
        return value.isoformat()
    if spec.kind == "text_or_number" and isinstance(before, int | float):
        # A number stays a number when staff typed one.
        try:
            return int(value)
        except ValueError:
            try:
                number = float(value)
                return number if math.isfinite(number) else value
            except ValueError:
                return value
    return value


class _StructuredBase(LockedMemberForm):
    """StructuredMemberForm without its fields (they are generated below)."""

    requires_versions = True

    def __init__(self, *args, disabled: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.readings = {c: shapes.read(c, getattr(self.instance, c, None)) for c in shapes.COLUMNS}
        self.key_changes: dict[str, dict] = {}
        self.fills: list[str] = []
        self.note = ""
        for column, specs in KEY_SPECS.items():
            stored = getattr(self.instance, column, None)
            # A missing column shows its defaults: what filling it would store.
            reading = (
                shapes.read(column, shapes.default(column))
                if stored is None
                else self.readings[column]
            )
            for spec in specs:
                field = self.fields.get(spec.name)
                if field is None:
                    continue
                self.initial[spec.name] = (
                    _readonly_text(stored, spec.key)
                    if spec.kind == "readonly"
                    else _shown_value(spec, reading)
                )
                self._choices(spec, field, reading)
                unreadable = reading is not None and spec.key in reading.unreadable
                if unreadable and isinstance(stored, dict) and spec.key in stored:
                    field.help_text = format_html(
                        "Stored as <code>{}</code>, which is not a valid {}; "
                        "it is kept unless you change it.",
                        json_preview(stored[spec.key]),
                        spec.kind.replace("_", " "),
                    )
        if disabled:
            for field in self.fields.values():
                field.disabled = True

    def _choices(self, spec: KeySpec, field, reading) -> None:
        current = getattr(reading, spec.attr, None) if reading is not None else None
        if spec.kind == "plan":
            names = plan_names()
            default_level = shapes.default("status")["membership_level"]
            choices = [(n, n) for n in [default_level, *names] if n]
            choices = list(dict.fromkeys(choices))
            if current and current not in dict(choices):
                choices.append((current, f"{current} (not a plan)"))
            field.choices = [("", "(none)"), *choices]
        elif spec.kind in ("physical", "computer", "names"):
            # A retired tool is no longer offered (a member who holds it keeps it).
            catalog = Authorization.objects.filter(retired=False)
            if spec.kind in ("physical", "computer"):
                catalog = catalog.filter(kind=spec.kind)
            names = list(catalog.order_by("name").values_list("name", flat=True))
            held = [n for n in current or [] if isinstance(n, str)]
            choices = [(n, n) for n in names]
            choices += [(n, f"{n} (not in the catalog)") for n in held if n not in names]
            field.choices = list(dict.fromkeys(choices))

    def edited_columns(self) -> dict[str, list[str]]:
        edited: dict[str, list[str]] = {}
        for name in self.changed_data:
            spec = SPEC_BY_NAME.get(name)
            if spec is not None:
                edited.setdefault(spec.column, []).append(name)
        for column in shapes.NULLABLE_COLUMNS:
            if self.cleaned_data.get(fill_field(column)):
                edited.setdefault(column, []).append(fill_field(column))
        return edited

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        fresh = self.fresh or self.instance
        for column, names in self.edited_columns().items():
            stored = getattr(fresh, column)
            if stored is not None and not isinstance(stored, dict):
                for name in names:
                    self.add_error(
                        name, "This column is not a JSON object; repair it in the raw JSON view."
                    )
                continue
            changes = self._column_changes(names, stored, cleaned)
            if stored is None:
                self.fills.append(column)
            if changes:
                self.key_changes[column] = changes
        self.note = (cleaned.get(ADD_NOTE) or "").strip()
        error = shapes.validate("notes", [{"note": self.note}]) if self.note else None
        if error:
            self.add_error(ADD_NOTE, error)
        return cleaned

    def _column_changes(self, names: list[str], stored, cleaned) -> dict:
        """The keys these fields change in a column, as stored; a refused value is an
        error next to its field."""
        changes = {}
        for name in names:
            spec = SPEC_BY_NAME.get(name)
            if spec is None or spec.kind == "readonly":
                continue
            before = stored.get(spec.key) if isinstance(stored, dict) else None
            try:
                changes[spec.key] = self._key_value(spec, cleaned.get(name), before)
            except ValidationError as invalid:
                self.add_error(name, invalid)
        return changes

    def _key_value(self, spec: KeySpec, value, before):
        """A cleaned field's value as the column stores it, checked against its shape
        (and RFID tags against the other members' tags)."""
        value = _stored_value(spec, value, before)
        if spec.kind == "rfid_tags":
            value = tags_checked([rfid_tag_form(t) for t in value], self.instance)
        if spec.kind in ("physical", "computer", "names"):
            kept = [n for n in (before if isinstance(before, list) else []) if n in value]
            value = kept + [n for n in value if n not in kept]
        error = shapes.validate(spec.column, {spec.key: value}, kept=())
        # The member's own rule for the key (members/validators.py), on a new value
        # only: a legacy value that predates the rule is kept until staff change it.
        if not error and value != before:
            new = value
            if isinstance(value, list) and isinstance(before, list):
                new = [item for item in value if item not in before]
            error = validators.key_error(spec.column, spec.key, new)
        if error:
            raise ValidationError(error)
        return value

    def apply(self, member) -> list[str]:
        """Put the edit on `member`: NULL columns filled by the scaffolding function,
        then the changed keys merged into the row as it is now (locked since clean()).
        Returns the columns to save."""
        if self.fills:
            scaffolding.complete_member(member.pk, only=self.fills)
            self.fresh = Member.objects.get(pk=member.pk)
        self.put_fresh_columns(member)
        for column, changes in self.key_changes.items():
            stored = getattr(member, column)
            setattr(member, column, {**(stored if isinstance(stored, dict) else {}), **changes})
        return list(self.key_changes)


def _structured_fields() -> dict[str, forms.Field]:
    fields: dict[str, forms.Field] = {}
    for column, specs in KEY_SPECS.items():
        if column in shapes.NULLABLE_COLUMNS:
            fields[fill_field(column)] = forms.BooleanField(
                required=False, label="Fill with defaults"
            )
        for spec in specs:
            fields[spec.name] = form_field(spec)
    fields[ADD_NOTE] = forms.CharField(
        required=False,
        label="Add a note",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=10_000,
    )
    return fields


# The fields are declared on the class (generated from the shapes), so the admin's
# fieldsets can name them.
# ModelFormMetaclass is type(_StructuredBase), named so the checker can follow the call;
# the stubs only say it returns some ModelFormMetaclass, hence the cast to the subclass
# of _StructuredBase it builds.
StructuredMemberForm = typing.cast(
    type[_StructuredBase],
    forms.models.ModelFormMetaclass(
        "StructuredMemberForm",
        (_StructuredBase,),
        {"__module__": __name__, "__qualname__": "StructuredMemberForm", **_structured_fields()},
    ),
)
