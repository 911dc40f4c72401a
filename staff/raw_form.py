"""The raw view of a member (superusers' "advanced" editing, ?advanced=1): each JSON
column as JSON text, checked against its shape."""

from django import forms
from django.core.exceptions import ValidationError

from members import shapes, validators
from members.models import stored_email
from members.rfid import rfid_tag_form
from staff.fields import ShapedJSONField, tags_checked
from staff.locking import ABSENT, LockedMemberForm


class MemberAdminForm(LockedMemberForm):
    class Meta(LockedMemberForm.Meta):
        fields = ("email", "username", *shapes.COLUMNS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for column in shapes.COLUMNS:
            old = self.fields.get(column)
            if not isinstance(old, forms.JSONField):  # absent: read-only for this user
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
        return {c: [c] for c in shapes.COLUMNS if c in self.changed_data and c in self.fields}

    def column_as_shown(self, column):
        if column == "login" or column not in self.fields:
            return ABSENT
        field = self.fields[column]
        raw = field.hidden_widget().value_from_datadict(
            self.data, self.files, self.add_initial_prefix(column)
        )
        try:
            return field.to_python(raw)
        except ValidationError:
            return ABSENT

    def clean_access(self):
        access = self.cleaned_data.get("access")
        if not isinstance(access, dict) or not isinstance(access.get("rfid_tags"), list):
            return access
        # Stored in the 10-digit form the tag table compares.
        tags = [rfid_tag_form(tag) for tag in access["rfid_tags"]]
        return {**access, "rfid_tags": tags_checked(tags, self.instance)}

    def clean(self):
        cleaned = super().clean()
        self._check_rules(cleaned)
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

    def _check_rules(self, cleaned) -> None:
        """The member's own rules (members/validators.py) on the keys staff changed,
        each refusal naming its key; a key left as stored is not checked again."""
        for column in self.edited_columns():
            if column not in cleaned:
                continue
            before = getattr(self.instance, column, None)
            for key, error in validators.column_errors(column, cleaned[column], before).items():
                self.add_error(column, f"{shapes.label(column, key)}: {error}")

    def apply(self, member) -> list[str]:
        """Put the edit on `member` (the row locked by clean()); the columns to save."""
        columns = list(self.edited_columns())
        self.put_fresh_columns(member)
        for column in columns:
            setattr(member, column, self.cleaned_data[column])
        return columns
