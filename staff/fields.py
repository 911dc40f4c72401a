"""Form fields and widgets of the member admin: a JSON column as text checked against
its shape (the raw view), and the inputs the structured view is built from."""

import datetime
import json
import math

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from members import shapes, validators
from members.jsonb import is_unicode_text
from members.models import RfidTag


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
            validators.rfid_tag_rule(tag)  # the same rule as the member's keys page

    def has_changed(self, initial, data):
        return self.to_python(initial) != self.to_python(data)


def tags_checked(tags: list[str], member) -> list[str]:
    """The tags (in their 10-digit form) if none is listed twice or held by another
    member; else the error naming the holder."""
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


class NameChoiceField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def has_changed(self, initial, data):
        return sorted(initial or []) != sorted(data or [])
