from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils import timezone

from members import validators
from members.emails import EmailField
from members.models import User, username_validator
from members.validators import years_between
from signup import services

# Far beyond any real password, but small enough that hashing it costs nothing extra.
PASSWORD_MAX_LENGTH = 1024
USERNAME_TAKEN = "That username is already taken."


class EmailForm(forms.Form):
    # Cleans to the canonical address (members/emails.py), so every spelling of an
    # existing member's address finds that member; an address that has no canonical
    # form is refused now, with the reason, rather than leaving the visitor to wait
    # for a link that never comes.
    email = EmailField()


class DetailsForm(forms.Form):
    """Step 2. There is deliberately no email field: the email comes from the token."""

    # The rules of each field are members/validators.py's, shared with the dashboard
    # and the admin.
    first_name = forms.CharField(label="First name", validators=[validators.name_rule])
    last_name = forms.CharField(label="Last name", validators=[validators.name_rule])
    preferred_name = forms.CharField(
        required=False,
        validators=[validators.name_rule],
        label="Preferred name",
        help_text="What you like to be called, if not your first name.",
    )
    pronouns = forms.CharField(
        required=False, label="Pronouns", validators=[validators.pronouns_rule]
    )
    birthday = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="You must be 18 or older.",
        validators=[validators.birthday_rule],
    )
    username = forms.CharField(
        max_length=16,
        validators=[username_validator],
        help_text="1 to 16 letters, digits, underscores or hyphens.",
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    phone = forms.CharField(
        label="Phone",
        validators=[validators.phone_rule],
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    discord_username = forms.CharField(max_length=50, required=False, label="Discord username")
    password1 = forms.CharField(
        label="Password",
        max_length=PASSWORD_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        max_length=PASSWORD_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    accept_terms = forms.BooleanField(label="I accept the terms of use")

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_username(self):
        # Checked with the other fields, so a taken name is reported with every other
        # error at once rather than alone after they pass. A cheap existence check for
        # the friendly answer; the unique index stays the real guard (signup/services.py).
        username = self.cleaned_data["username"]
        if services.username_taken(username):
            raise ValidationError(USERNAME_TAKEN, code="taken")
        return username

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords do not match.")
        elif password1:
            candidate = User(
                username=cleaned.get("username", ""),
                email=self.email,
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            try:
                password_validation.validate_password(password1, candidate)
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned

    @property
    def is_21_or_older(self) -> bool:
        return years_between(self.cleaned_data["birthday"], timezone.localdate()) >= 21


class UsernameCheckForm(forms.Form):
    username = forms.CharField(max_length=16, validators=[username_validator])
    token = forms.CharField(max_length=1000)
