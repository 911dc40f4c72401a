"""Forms for the member admin: the change form, whose JSON columns are checked against
their DESIGN.md §2 shapes, and the onboarding activation form."""

import datetime
import json
import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from members.jsonb import is_unicode_text, unstorable
from members.models import (
    Member,
    MemberStatus,
    RfidTag,
    User,
    normalize_email,
    rfid_tag_form,
    stored_email,
    username_validator,
)
from members.scaffolding import NULLABLE_COLUMNS
from members.services import login_clashes

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TAG_RE = re.compile(r"^[0-9]{1,10}$")


# Each checker returns an error message for a bad value, or None. Every key may be
# missing or null: readers tolerate both, so staff may leave them so.
def _text(value):
    return None if isinstance(value, str) else "must be text"


def _boolean(value):
    return None if isinstance(value, bool) else "must be true or false"


def _number(value):
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return None if ok else "must be a number"


def _date(value):
    if not isinstance(value, str) or not DATE_RE.match(value):
        return 'must be a date written "YYYY-MM-DD"'
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return "is not a real date"
    return None


def _timestamp(value):
    if not isinstance(value, str):
        return "must be an ISO timestamp"
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return "must be an ISO timestamp"
    return None


def _email(value):
    if not isinstance(value, str):
        return "must be text"
    if value:
        try:
            validate_email(value)
        except ValidationError:
            return "is not a valid email address"
    return None


def _membership_status(value):
    if isinstance(value, str) and value.strip().lower() in MemberStatus.values:
        return None
    return "must be one of " + ", ".join(MemberStatus.values)


def _text_or_number(value):
    return None if _text(value) is None or _number(value) is None else "must be text or a number"


def _list_of(checker, what):
    def check(value):
        if not isinstance(value, list):
            return f"must be a list of {what}"
        for i, item in enumerate(value):
            error = checker(item)
            if error:
                return f"item {i + 1} {error}"
        return None

    return check


def _object(shape, kept=frozenset()):
    def check(value):
        if not isinstance(value, dict):
            return "must be an object"
        for key, item in value.items():
            if key in kept and key not in shape:
                continue
            if key not in shape:
                return f'has an unknown key "{key}"'
            if item is not None:
                error = shape[key](item)
                if error:
                    return f'"{key}" {error}'
        return None

    return check


def _rfid_tag(value):
    if isinstance(value, str) and TAG_RE.match(value.strip()):
        return None
    return "must be a tag of up to 10 digits, written as text"


SHAPES = {
    "identity": {
        "first_name": _text,
        "last_name": _text,
        "nickname": _text,
        "pronouns": _text,
        "birthday": _date,
        "emails": _list_of(_object({"type": _text, "email_address": _email}), "email objects"),
        "active_directory_username": _text,
        "nametag_subtitle": _text,
        "theme_song_url": _text,
        "theme_song_duration": _number,
    },
    "status": {
        "membership_status": _membership_status,
        "membership_level": _text,
        "member_since": _date,
        "renewal_date": _date,
        "waiver_signed": _boolean,
        "stripe_customer_id": _text,
        "stripe_subscription_id": _text,
        "stripe_product_id": _text,
        "subscription_status": _text,
        "payment_problem": _boolean,
    },
    "connections": {"phone": _text, "discord_username": _text},
    "forms": {
        "waiver_signed_date": _date,
        "id_check_1": _text,
        "id_check_2": _text,
        "terms_of_use_accepted": _boolean,
        "terms_accepted_at": _timestamp,
        "orientation_completed_date": _date,
        "essentials_form": _text,
        "is_21_or_older": _boolean,
    },
    "access": {"rfid_tags": _list_of(_rfid_tag, "RFID tags")},
    "authorizations": {
        "authorizations": _list_of(_text, "text"),
        "computer_authorizations": _list_of(_text, "text"),
    },
    "extras": {"storage_id": _text_or_number, "storage_area": _text},
}
NOTE_SHAPE = {"note": _text, "from": _text, "timestamp": _timestamp}


def shape_error(column: str, value, kept=frozenset()) -> str | None:
    """Why `value` does not fit `column`'s shape, or None. NULL fits a nullable column;
    `kept` are keys outside the shape that a legacy row already holds."""
    if value is None:
        return None if column in NULLABLE_COLUMNS else "This column cannot be empty."
    error = unstorable(value)
    if error:
        return f"The value {error}."
    if column == "notes":
        error = _list_of(_object(NOTE_SHAPE), "note objects")(value)
    else:
        error = _object(SHAPES[column], kept)(value)
    return f"The value {error}." if error else None


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
        error = shape_error(self.column, value, self.kept)
        if error:
            raise ValidationError(error, code="shape")


JSON_COLUMNS = ("identity",) + NULLABLE_COLUMNS


class MemberAdminForm(forms.ModelForm):
    # Set per request by the admin when a save lost a race to a unique index.
    clash_errors: dict[str, str] = {}

    email = forms.EmailField(required=False, max_length=254)
    username = forms.CharField(required=False, max_length=16, validators=[username_validator])

    class Meta:
        model = Member
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

    def _get_validation_exclusions(self):
        # clean() names the member that holds an email or username, and the unique
        # indexes refuse a race; Django's generic "constraint violated" message would
        # only repeat it less helpfully. The username's pattern is the field's validator.
        return super()._get_validation_exclusions() | {"email", "username"}

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
        for field, message in self.clash_errors.items():
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
