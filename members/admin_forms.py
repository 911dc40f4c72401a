"""Forms for the member admin: the change form, whose JSON columns are checked against
their shapes (members/shapes.py), and the onboarding activation form."""

import contextvars
import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from members import shapes
from members.jsonb import is_unicode_text
from members.models import Member, RfidTag, User, normalize_email, stored_email
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


class MemberAdminForm(forms.ModelForm):
    email = forms.EmailField(required=False, max_length=254)
    username = forms.CharField(required=False, max_length=16, validators=[username_validator])

    class Meta:
        model = Member
        fields = ("email", "username", *JSON_COLUMNS)
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

    def clean_email(self):
        email = self.cleaned_data.get("email") or ""
        # An edited address must have a canonical form (members/emails.py); one left as
        # it was keeps its stored text, so a legacy address email-validator refuses does
        # not stop staff editing the rest of the record.
        if email and "email" in self.changed_data:
            return normalize_email(email)
        return stored_email(email)

    def clean_access(self):
        access = self.cleaned_data.get("access")
        if not isinstance(access, dict) or not isinstance(access.get("rfid_tags"), list):
            return access
        # Stored in the 10-digit form the tag table compares.
        tags = [rfid_tag_form(tag) for tag in access["rfid_tags"]]
        if len(set(tags)) != len(tags):
            raise ValidationError("The same RFID tag is listed twice.")
        held = (
            RfidTag.objects.filter(tag__in=tags)
            .exclude(member_id=self.instance.pk)
            .values_list("tag", "member_id")
            .first()
        )
        if held:
            raise ValidationError(f"RFID tag {held[0]} belongs to member #{held[1]}.")
        return {**access, "rfid_tags": tags}

    def clean(self):
        cleaned = super().clean()
        email, username = cleaned.get("email"), cleaned.get("username")
        if self.instance.user_id:
            if "email" in cleaned and not email:
                self.add_error("email", "A member with a login needs an email.")
            if "username" in cleaned and not username:
                self.add_error("username", "A member with a login needs a username.")
        if "email" in cleaned and "username" in cleaned:
            clashes = login_clashes(member=self.instance, email=email, username=username)
            for field, message in clashes.items():
                self.add_error(field, message)
        identity = cleaned.get("identity")
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
        for field, message in (LOST_RACE.get() or {}).items():
            if field in self.fields:
                self.add_error(field, message)
        return cleaned


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
