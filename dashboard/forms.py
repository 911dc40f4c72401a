"""Dashboard forms. Each form's fields are the keyword arguments of its service
function (members/services.py), which knows the JSON key each one is stored in and
writes only the keys that changed."""

from django import forms
from django.contrib.auth.forms import PasswordChangeForm

from members import validators
from members.emails import EmailField
from members.ratelimit import PasswordLocked, password_check_limited
from members.rfid import rfid_tag_form
from members.services import FLOOF_KEYS, PROFILE_KEYS, email_change_clash


def _text(max_length=None, *, required=False, label=None, rule=None):
    # CharField strips, and its null-character validator matters here: PostgreSQL's
    # jsonb refuses \u0000, which would otherwise turn a form post into a 500. A field
    # with a rule (members/validators.py, shared with signup and the admin) takes its
    # length from the rule.
    return forms.CharField(
        max_length=max_length,
        required=required,
        label=label,
        validators=[rule] if rule else [],
    )


class ProfileForm(forms.Form):
    # The labels are signup's (signup/forms.py), so a member finds the same words here.
    first_name = _text(required=True, label="First name", rule=validators.name_rule)
    last_name = _text(required=True, label="Last name", rule=validators.name_rule)
    nickname = _text(label="Preferred name", rule=validators.name_rule)
    pronouns = _text(label="Pronouns", rule=validators.pronouns_rule)
    phone = _text(label="Phone", rule=validators.phone_rule)
    discord_username = _text(50, label="Discord username")

    # form field -> (column, key) it is stored in
    KEYS = PROFILE_KEYS


class _RuleURLField(forms.URLField):
    """A URL field checked by its rule alone (the rule allows https:// only)."""

    default_validators: list = []


class FloofForm(forms.Form):
    # Pronouns are asked once, on the profile page; the nametag shows them from there.
    nametag_subtitle = _text(100, label="Nametag subtitle")
    theme_song_url = _RuleURLField(
        required=False,
        assume_scheme="https",
        label="Theme song URL",
        help_text="An https:// link.",
        validators=[validators.theme_song_url_rule],
        error_messages={"invalid": "Enter a valid https:// link."},
    )
    theme_song_duration = forms.IntegerField(
        required=False,
        label="Theme song duration (seconds)",
        help_text="Whole seconds, 1 to 30.",
        validators=[validators.theme_song_duration_rule],
        error_messages={"invalid": "Use whole seconds, 1 to 30."},
    )

    KEYS = FLOOF_KEYS

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        # A song needs a duration; a duration left over without a song is harmless.
        missing = cleaned.get("theme_song_duration") is None
        if cleaned.get("theme_song_url") and missing and "theme_song_duration" not in self.errors:
            self.add_error("theme_song_duration", "Say how many seconds to play, 1 to 30.")
        return cleaned


class RfidAddForm(forms.Form):
    tag = forms.CharField(
        label="Tag number",
        max_length=20,
        help_text="The number printed on the fob or card: up to 10 digits.",
    )

    def clean_tag(self):
        tag = self.cleaned_data["tag"].replace(" ", "")
        validators.rfid_tag_rule(tag)
        return rfid_tag_form(tag)


class RfidRemoveForm(forms.Form):
    tag = forms.RegexField(regex=r"^[0-9]{10}$")


class EmailChangeForm(forms.Form):
    """The account page's login email change: the new address (cleaned to its canonical
    form) and the current password, so a session left open cannot take the login."""

    email = EmailField(label="New email address")
    current_password = forms.CharField(
        label="Your password",
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, member, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.member, self.user = member, user

    def clean_current_password(self):
        password = self.cleaned_data["current_password"]
        try:
            right = password_check_limited(self.user, password)
        except PasswordLocked as locked:
            raise forms.ValidationError(str(locked), code="locked") from None
        if not right:
            raise forms.ValidationError("That is not your password.", code="password")
        return password

    def clean_email(self):
        email = self.cleaned_data["email"]
        if email == self.member.email:
            raise forms.ValidationError("That is already your login email.", code="same")
        clash = email_change_clash(member=self.member, email=email)
        if clash:
            raise forms.ValidationError(clash, code="taken")
        return email


class LimitedPasswordChangeForm(PasswordChangeForm):
    """Django's password change, its old password checked under the same limit as the
    other password-confirmed forms (members/ratelimit.py)."""

    def clean_old_password(self):
        password = self.cleaned_data["old_password"]
        try:
            right = password_check_limited(self.user, password)
        except PasswordLocked as locked:
            raise forms.ValidationError(str(locked), code="locked") from None
        if not right:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return password
