"""Forms for the member admin: the structured change form generated from the column
shapes (members/shapes.py), the raw JSON form superusers keep as an advanced view, and
the onboarding activation form."""

import contextvars
import datetime
import hashlib
import json
import math
import typing
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from members import admin_index, scaffolding, shapes
from members.jsonb import is_unicode_text
from members.models import (
    Authorization,
    Member,
    RfidTag,
    User,
    normalize_email,
    stored_email,
)
from members.rfid import rfid_tag_form
from members.services import login_clashes
from members.validators import username_validator

# Errors of a save that lost a race to a unique index, for the one re-display of the
# form that follows it (set by MemberAdmin.changeform_view around that re-display).
LOST_RACE: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "member_admin_lost_race", default=None
)


class ShapedJSONField(forms.JSONField):
    """A JSON textarea that turns anything undecodable into a form error."""

    def __init__(self, *, column, kept=frozenset(), **kwargs):
        self.column = column
        self.kept = kept
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 6, "cols": 80}))
        super().__init__(**kwargs)

    def to_python(self, value):
        try:
            return super().to_python(value)
        except (RecursionError, ValueError) as error:
            # Too deeply nested for the decoder, or a number it cannot read.
            raise ValidationError("Enter a valid JSON.", code="invalid") from error

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return forms.fields.InvalidJSONInput(data)

    def has_changed(self, initial, data):
        try:
            return super().has_changed(initial, data)
        except (RecursionError, ValueError):
            return True

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        text = json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)
        # A lone surrogate cannot be sent as UTF-8; show it escaped so the page renders.
        return text if is_unicode_text(text) else json.dumps(value, indent=2, cls=self.encoder)

    def validate(self, value):
        super().validate(value)
        error = shapes.validate(self.column, value, kept=self.kept)
        if error:
            raise ValidationError(error, code="shape")


JSON_COLUMNS = shapes.COLUMNS


def column_version(value) -> str:
    """A short fingerprint of a stored value, to tell whether it changed since a page
    was drawn (JSON in one canonical spelling; lone surrogates escaped)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def member_versions(member) -> dict[str, str]:
    """The fingerprint of each JSON column and of the login (email and username)."""
    versions = {column: column_version(getattr(member, column)) for column in JSON_COLUMNS}
    versions["login"] = column_version([member.email, member.username])
    return versions


CONFLICT = (
    "Someone else changed {what} while you were editing it, so nothing was saved. "
    "Reload the page to see their change, then make yours again."
)
OUT_OF_DATE = (
    "This page is incomplete or out of date, so nothing was saved. "
    "Reload it and make your change again."
)


class _MemberForm(forms.ModelForm):
    """What both member forms share: the login fields (saved by
    services.member_change_login) and, on save, the row locked and compared with what
    the page showed, so a change made meanwhile by someone else is reported, not
    silently overwritten."""

    email = forms.EmailField(required=False, max_length=254)
    username = forms.CharField(required=False, max_length=16, validators=[username_validator])
    # The fingerprints of what the page showed (member_versions), as JSON.
    loaded = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Member
        fields: tuple[str, ...] = ("email", "username")
        # Declared above and saved by services.member_change_login, not copied onto the
        # instance, so the model's own constraint checks leave them out: clean() names
        # the member that holds an email or username, and the unique indexes refuse a
        # race; Django's generic "constraint violated" message would only repeat it
        # less helpfully. The username's pattern is the field's validator.
        exclude = ("email", "username")  # noqa: DJ006 - fields lists what is edited

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Meta.exclude leaves these out of the instance's initial values; show them.
        for name in ("email", "username"):
            self.initial.setdefault(name, getattr(self.instance, name))
        if self.instance.pk:
            self.initial["loaded"] = json.dumps(member_versions(self.instance))
        # The row as it is now, locked (set by clean()).
        self.fresh = None

    def clean_email(self):
        email = self.cleaned_data.get("email") or ""
        # An edited address must have a canonical form (members/emails.py); one left as
        # it was keeps its stored text, so a legacy address email-validator refuses does
        # not stop staff editing the rest of the record.
        if email and "email" in self.changed_data:
            return normalize_email(email)
        return stored_email(email)

    def clean(self):
        cleaned = super().clean()
        email, username = cleaned.get("email"), cleaned.get("username")
        # No username is fine: the User keeps its placeholder login name (DESIGN §2).
        if self.instance.user_id and "email" in cleaned and not email:
            self.add_error("email", "A member with a login needs an email.")
        if "email" in cleaned and "username" in cleaned:
            clashes = login_clashes(member=self.instance, email=email, username=username)
            for field, message in clashes.items():
                self.add_error(field, message)
        for field, message in (LOST_RACE.get() or {}).items():
            if field in self.fields:
                self.add_error(field, message)
        if self.instance.pk and not self.errors:
            self._check_not_changed_meanwhile()
        return cleaned

    # --- changed meanwhile? ---------------------------------------------------------

    def _lock(self):
        rows = Member.objects.filter(pk=self.instance.pk)
        # The admin saves in one transaction: the lock holds until the save commits,
        # so nothing can change the row between this check and the write.
        if transaction.get_connection().in_atomic_block:
            rows = rows.select_for_update()
        return rows.first()

    def _loaded_versions(self) -> dict | None:
        try:
            loaded = json.loads(self.data.get(self.add_prefix("loaded")) or "")
        except (TypeError, ValueError, RecursionError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def edited_columns(self) -> dict[str, list[str]]:
        """Column -> the form fields that change it (subclasses)."""
        raise NotImplementedError

    def _column_as_shown(self, column):
        """What the page showed of a column when there are no fingerprints."""
        return _ABSENT

    def _check_not_changed_meanwhile(self) -> None:
        fresh = self._lock()
        if fresh is None:
            raise ValidationError("This member no longer exists.")
        self.fresh = fresh
        loaded = self._loaded_versions()
        now = member_versions(fresh)
        edited = dict(self.edited_columns())
        login_fields: list[str] = [f for f in ("email", "username") if f in self.changed_data]
        if login_fields:
            edited["login"] = login_fields
        if loaded is None and self.requires_versions:
            raise ValidationError(OUT_OF_DATE, code="out_of_date")
        for column, fields in edited.items():
            if loaded is not None:
                changed = loaded.get(column) != now[column]
            else:
                shown = self._column_as_shown(column)
                changed = shown is not _ABSENT and shown != getattr(fresh, column)
            if not changed:
                continue
            what = "the login" if column == "login" else f"this member's {column}"
            message = CONFLICT.format(what=what)
            for field in fields:
                if field in self.fields:
                    self.add_error(field, message)
            self.add_error(None, message)

    requires_versions = False


_ABSENT = object()


class MemberAdminForm(_MemberForm):
    """The raw view (superusers' "advanced" editing): each JSON column as JSON text,
    checked against its shape."""

    class Meta(_MemberForm.Meta):
        fields = ("email", "username", *JSON_COLUMNS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for column in JSON_COLUMNS:
            old = self.fields.get(column)
            if old is None:  # read-only for this user
                continue
            # The hidden initial value lets changed_data compare the edit with what
            # the page showed, so a column written meanwhile (a webhook's note) is
            # saved only if staff changed it too.
            stored = getattr(self.instance, column, None)
            self.fields[column] = ShapedJSONField(
                column=column,
                kept=frozenset(stored) if isinstance(stored, dict) else frozenset(),
                show_hidden_initial=True,
                required=column == "identity",
                label=old.label,
                help_text=old.help_text,
                encoder=old.encoder,
                decoder=old.decoder,
            )

    def edited_columns(self):
        return {c: [c] for c in JSON_COLUMNS if c in self.changed_data and c in self.fields}

    def _column_as_shown(self, column):
        if column == "login" or column not in self.fields:
            return _ABSENT
        field = self.fields[column]
        raw = field.hidden_widget().value_from_datadict(
            self.data, self.files, self.add_initial_prefix(column)
        )
        try:
            return field.to_python(raw)
        except ValidationError:
            return _ABSENT

    def clean_access(self):
        access = self.cleaned_data.get("access")
        if not isinstance(access, dict) or not isinstance(access.get("rfid_tags"), list):
            return access
        # Stored in the 10-digit form the tag table compares.
        tags = [rfid_tag_form(tag) for tag in access["rfid_tags"]]
        return {**access, "rfid_tags": _tags_checked(tags, self.instance)}

    def clean(self):
        cleaned = super().clean()
        identity = cleaned.get("identity")
        email = cleaned.get("email")
        if (
            isinstance(identity, dict)
            and "email" in cleaned
            and "identity" in self.changed_data
            and "email" not in self.changed_data
        ):
            primary = [
                e.get("email_address")
                for e in identity.get("emails") or []
                if isinstance(e, dict) and e.get("type") == "primary"
            ]
            if primary and stored_email(primary[0]) != email:
                self.add_error(
                    "identity",
                    "The primary address in identity follows the email field; "
                    "change the email field instead.",
                )
        return cleaned

    def apply(self, member) -> list[str]:
        """Put the edit on `member` (the row locked by clean()); the columns to save."""
        columns = list(self.edited_columns())
        _refresh(member, self.fresh)
        for column in columns:
            setattr(member, column, self.cleaned_data[column])
        return columns


def _tags_checked(tags: list[str], member) -> list[str]:
    if len(set(tags)) != len(tags):
        raise ValidationError("The same RFID tag is listed twice.")
    held = (
        RfidTag.objects.filter(tag__in=tags)
        .exclude(member_id=member.pk)
        .values_list("tag", "member_id")
        .first()
    )
    if held:
        raise ValidationError(f"RFID tag {held[0]} belongs to member #{held[1]}.")
    return tags


def _refresh(member, fresh) -> None:
    """Give the instance the row's current columns (read under the lock), so the save
    builds on them, not on what was loaded before the lock."""
    if fresh is None:
        return
    for column in JSON_COLUMNS:
        setattr(member, column, getattr(fresh, column))


# --- structured editing, generated from the shapes ---------------------------------

_ACRONYMS = {"id": "ID", "rfid": "RFID", "url": "URL", "ad": "AD"}
_TITLES = {
    "identity": "Identity",
    "status": "Membership",
    "connections": "Connections",
    "forms": "Forms and onboarding",
    "notes": "Notes",
    "access": "Access (RFID tags)",
    "authorizations": "Authorizations",
    "extras": "Extras",
}


def _label(key: str) -> str:
    words = [_ACRONYMS.get(word, word) for word in key.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


_KINDS = {
    shapes.Text: "text",
    shapes.Boolean: "boolean",
    shapes.Number: "number",
    shapes.TextOrNumber: "text_or_number",
    shapes.Date: "date",
    shapes.Timestamp: "timestamp",
    shapes.Membership: "membership_status",
}


def _kind(annotation) -> str:
    """The editing kind of a key, from its type in the shape."""
    inner = typing.get_args(annotation)[0]  # X in `X | None`
    if inner in _KINDS:
        return _KINDS[inner]
    base = typing.get_args(inner)[0] if typing.get_origin(inner) is typing.Annotated else inner
    if typing.get_origin(base) is list:
        item = typing.get_args(base)[0]
        if item == shapes.RfidTagText:
            return "rfid_tags"
        if item == shapes.Text:
            return "names"
    return "readonly"  # e.g. identity.emails: follows the email field


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
    every_key = [k for c in JSON_COLUMNS if c != "notes" for k in shapes.keys(c)]
    model_fields = {f.name for f in Member._meta.get_fields()}
    specs: dict[str, list[KeySpec]] = {}
    for column in JSON_COLUMNS:
        specs[column] = []
        if column == "notes":
            continue  # a list, only ever appended to: the "add a note" field
        for attr, info in shapes.SHAPES[column].model_fields.items():
            key = info.alias or attr
            kind = _SPECIAL.get((column, key)) or _kind(info.annotation)
            # The key's own name where it is unambiguous (`membership_status`).
            clash = every_key.count(key) > 1 or key in model_fields or key in JSON_COLUMNS
            name = f"{column}__{key}" if clash else key
            specs[column].append(KeySpec(column, key, attr, name, kind, _label(key)))
    return specs


KEY_SPECS = _key_specs()
SPEC_BY_NAME = {spec.name: spec for specs in KEY_SPECS.values() for spec in specs}


def fill_field(column: str) -> str:
    return f"{column}__fill"


ADD_NOTE = "add_note"


class NumberField(forms.Field):
    """A JSON number: an integer when written as one, else a finite float."""

    widget = forms.NumberInput(attrs={"step": "any"})

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValidationError("Enter a number.", code="invalid") from None
        if not math.isfinite(number):
            raise ValidationError("Enter a finite number.", code="invalid")
        return number


class TimestampField(forms.CharField):
    """An ISO timestamp, as text (the shapes store it so)."""

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        try:
            return datetime.datetime.fromisoformat(text).isoformat()
        except ValueError:
            raise ValidationError(
                "Enter a timestamp such as 2026-01-31T18:30:00+00:00.", code="invalid"
            ) from None


class TagListWidget(forms.Widget):
    """RFID tags as a list of inputs: each with a "remove" box, and an empty one to add
    a tag (admin.js adds more empty ones)."""

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name) or []
        if isinstance(values, str):
            values = [values]
        removed = set(data.getlist(f"{name}__remove")) if hasattr(data, "getlist") else set()
        return [v for i, v in enumerate(values) if str(i) not in removed]

    def value_omitted_from_data(self, data, files, name):
        return False

    def render(self, name, value, attrs=None, renderer=None):
        attrs = attrs or {}
        base_id = attrs.get("id") or f"id_{name}"
        disabled = " disabled" if attrs.get("disabled") else ""
        tags = [v for v in (value or []) if isinstance(v, str)]
        rows = format_html_join(
            "",
            '<li><input type="text" name="{}" id="{}_{}" value="{}" inputmode="numeric" '
            'maxlength="12" aria-label="RFID tag {}"{}> <label class="vCheckboxLabel">'
            '<input type="checkbox" name="{}__remove" value="{}"{}> Remove tag {}</label></li>',
            (
                (name, base_id, i, tag, i + 1, disabled, name, i, disabled, tag)
                for i, tag in enumerate(tags)
            ),
        )
        add = format_html(
            '<li class="tag-add"><label for="{}_new">Add a tag</label> <input type="text" '
            'name="{}" id="{}_new" inputmode="numeric" maxlength="12"{}></li>',
            base_id,
            name,
            base_id,
            disabled,
        )
        button = (
            ""
            if disabled
            else format_html(
                '<button type="button" class="tag-add-more" hidden>{}</button>', "Add another tag"
            )
        )
        return format_html(
            '<div class="tag-list" id="{}"><ul>{}{}</ul>{}</div>', base_id, rows, add, button
        )


class TagListField(forms.Field):
    widget = TagListWidget
    hidden_widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if value in (None, ""):
            return []
        values = value if isinstance(value, list | tuple) else [value]
        return [str(v).strip() for v in values if str(v).strip()]

    def validate(self, value):
        for tag in value:
            if not tag.isascii() or not tag.isdigit() or len(tag) > 10:
                raise ValidationError(
                    f"“{tag}” is not an RFID tag: up to 10 digits.", code="invalid"
                )

    def has_changed(self, initial, data):
        return self.to_python(initial) != self.to_python(data)


class NameChoiceField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def has_changed(self, initial, data):
        return sorted(initial or []) != sorted(data or [])


class _CommonFieldArgs(typing.TypedDict):
    """What every structured field is built with."""

    required: bool
    label: str
    show_hidden_initial: bool


def _form_field(spec: KeySpec) -> forms.Field:
    common: _CommonFieldArgs = {"required": False, "label": spec.label, "show_hidden_initial": True}
    kind = spec.kind
    if kind == "text":
        return forms.CharField(**common)
    if kind == "text_or_number":
        return forms.CharField(**common)
    if kind == "boolean":
        return forms.BooleanField(**common)
    if kind == "number":
        return NumberField(**common)
    if kind == "date":
        return forms.DateField(
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            input_formats=["%Y-%m-%d"],
            **common,
        )
    if kind == "timestamp":
        return TimestampField(**common)
    if kind == "membership_status":
        return forms.ChoiceField(choices=[("", "(none)"), *shapes.MemberStatus.choices], **common)
    if kind == "plan":
        return forms.ChoiceField(choices=[], **common)
    if kind == "rfid_tags":
        return TagListField(**common)
    if kind in ("physical", "computer", "names"):
        return NameChoiceField(choices=[], **common)
    readonly: _CommonFieldArgs = {**common, "show_hidden_initial": False}
    return forms.CharField(
        disabled=True,
        **readonly,
        help_text="Follows the email field above; other addresses are kept.",
        widget=forms.TextInput(attrs={"size": 60}),
    )


def _structured_fields() -> dict[str, forms.Field]:
    fields: dict[str, forms.Field] = {}
    for column, specs in KEY_SPECS.items():
        if column in shapes.NULLABLE_COLUMNS:
            fields[fill_field(column)] = forms.BooleanField(
                required=False, label="Fill with defaults"
            )
        for spec in specs:
            fields[spec.name] = _form_field(spec)
    fields[ADD_NOTE] = forms.CharField(
        required=False,
        label="Add a note",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=10_000,
    )
    return fields


def structured_fieldsets(member, *, can_fill: bool = True) -> list[tuple]:
    """The change page's fieldsets: the login, then one per JSON column with what the
    page shows about it (missing, unknown keys, notes) in its description."""
    sets = []
    for column in JSON_COLUMNS:
        stored = getattr(member, column, None) if member is not None else None
        names = [spec.name for spec in KEY_SPECS[column]]
        if column in shapes.NULLABLE_COLUMNS and stored is None and can_fill:
            names.insert(0, fill_field(column))
        if column == "notes":
            names = [*names, ADD_NOTE]
        sets.append(
            (
                _TITLES[column],
                {
                    "fields": names,
                    "description": column_description(column, stored),
                    "classes": (f"column-{column}",),
                },
            )
        )
    return sets


def column_description(column: str, stored):
    """What the page says above a column's fields: missing, damaged, keys the shape
    does not know (kept, read-only), and for notes the list, newest first. Member data
    goes through format_html, which escapes it."""
    parts = []
    if stored is None:
        if column in shapes.NULLABLE_COLUMNS:
            parts.append(
                format_html(
                    '<p class="column-missing"><strong>Missing.</strong> {}</p>',
                    "This column is empty. Tick “Fill with defaults”, or enter values "
                    "below, to fill it; otherwise it stays empty.",
                )
            )
    elif column == "notes":
        parts.append(_notes_list(stored))
    elif not isinstance(stored, dict):
        parts.append(
            format_html(
                '<p class="column-damaged errornote">{} <code class="json">{}</code></p>',
                "This column is not a JSON object, so it cannot be edited here; "
                "a superuser can repair it in the raw JSON view. Stored:",
                json_preview(stored),
            )
        )
    else:
        known = set(shapes.keys(column))
        unknown = [(k, json_preview(v)) for k, v in stored.items() if k not in known]
        if unknown:
            items = format_html_join(
                "", '<li><code>{}</code>: <code class="json">{}</code></li>', unknown
            )
            parts.append(
                format_html(
                    '<div class="unknown-keys"><p>{}</p><ul>{}</ul></div>',
                    "Kept as stored (keys this form does not know, read-only):",
                    items,
                )
            )
    return format_html_join("", "{}", ((p,) for p in parts)) if parts else None


def _notes_list(stored):
    notes = shapes.read("notes", stored)
    if notes is None:
        return format_html(
            '<p class="column-damaged errornote">{} <code class="json">{}</code></p>',
            "The notes are not a list; a superuser can repair them in the raw JSON view. Stored:",
            json_preview(stored),
        )
    if not notes:
        return format_html('<p class="notes-empty">{}</p>', "No notes yet.")
    rows = []
    for note in reversed(notes):  # newest first
        when = note.timestamp.strftime("%Y-%m-%d %H:%M") if note.timestamp else "(no time)"
        rows.append((when, note.from_ or "(unknown)", note.note or ""))
    items = format_html_join(
        "",
        '<li><span class="note-meta">{} · {}</span><div class="note-text">{}</div></li>',
        rows,
    )
    return format_html('<ol class="notes-list" reversed>{}</ol>', items)


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


class _StructuredBase(_MemberForm):
    """Every JSON column as fields generated from members/shapes.py. Saves are
    key-level: only the keys staff changed are written, merged into the row as it is
    under the lock; a NULL column is filled through the scaffolding function; notes are
    only appended."""

    requires_versions = True

    def __init__(self, *args, disabled: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.readings = {c: shapes.read(c, getattr(self.instance, c, None)) for c in JSON_COLUMNS}
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
            names = admin_index.plan_names()
            default_level = shapes.default("status")["membership_level"]
            choices = [(n, n) for n in [default_level, *names] if n]
            choices = list(dict.fromkeys(choices))
            if current and current not in dict(choices):
                choices.append((current, f"{current} (not a plan)"))
            field.choices = [("", "(none)"), *choices]
        elif spec.kind in ("physical", "computer", "names"):
            catalog = Authorization.objects.all()
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
            changes = {}
            for name in names:
                spec = SPEC_BY_NAME.get(name)
                if spec is None or spec.kind == "readonly":
                    continue
                before = stored.get(spec.key) if isinstance(stored, dict) else None
                value = _stored_value(spec, cleaned.get(name), before)
                if spec.kind == "rfid_tags":
                    try:
                        value = _tags_checked([rfid_tag_form(t) for t in value], self.instance)
                    except ValidationError as invalid:
                        self.add_error(name, invalid)
                        continue
                if spec.kind in ("physical", "computer", "names"):
                    kept = [n for n in (before if isinstance(before, list) else []) if n in value]
                    value = kept + [n for n in value if n not in kept]
                error = shapes.validate(column, {spec.key: value}, kept=())
                if error:
                    self.add_error(name, error)
                    continue
                changes[spec.key] = value
            if stored is None:
                self.fills.append(column)
            if changes:
                self.key_changes[column] = changes
        self.note = (cleaned.get(ADD_NOTE) or "").strip()
        if self.note and shapes.validate("notes", [{"note": self.note}]):
            self.add_error(ADD_NOTE, shapes.validate("notes", [{"note": self.note}]))
        return cleaned

    def apply(self, member) -> list[str]:
        """Put the edit on `member`: NULL columns filled by the scaffolding function,
        then the changed keys merged into the row as it is now (locked since clean()).
        Returns the columns to save."""
        if self.fills:
            scaffolding.complete_member(member.pk, only=self.fills)
            self.fresh = Member.objects.get(pk=member.pk)
        _refresh(member, self.fresh)
        for column, changes in self.key_changes.items():
            stored = getattr(member, column)
            setattr(member, column, {**(stored if isinstance(stored, dict) else {}), **changes})
        return list(self.key_changes)


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


def _past_or_today(value):
    if value > timezone.localdate():
        raise ValidationError("This date is in the future.")


class ActivateForm(forms.Form):
    id_checked_on = forms.DateField(
        label="ID checked on",
        validators=[_past_or_today],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    id_checked_by = forms.ModelChoiceField(
        label="ID checked by",
        queryset=User.objects.filter(is_staff=True, is_active=True).order_by("username"),
    )
    waiver_signed_on = forms.DateField(
        label="Waiver signed on",
        validators=[_past_or_today],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    orientation_completed_on = forms.DateField(
        label="Orientation completed on",
        validators=[_past_or_today],
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def json_preview(value) -> str:
    return "null" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
