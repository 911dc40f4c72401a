"""How the project adapts allauth: its signup closed, one client address for every rate
limit, and every address a visitor types put through the canonical form
(members/emails.py) before allauth looks it up or mails it."""

from allauth.account import forms as allauth_forms
from allauth.account.adapter import DefaultAccountAdapter

from members.emails import EmailField, normalize_email
from members.net import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Members join through the signup app, whose critical transaction creates
        # the user, the verified address and the member together.
        return False

    def get_client_ip(self, request):
        # One notion of the client address for every rate limit, allauth's included;
        # allauth's own raises (a 500) on a short X-Forwarded-For.
        return client_ip(request)

    def clean_email(self, email):
        # allauth's forms look up and mail what this returns: the canonical form, or a
        # ValidationError with the reason, which the form shows (an address IDNA cannot
        # encode could not be mailed at all).
        return normalize_email(super().clean_email(email))


def _canonical_field(field) -> EmailField:
    """An EmailField dressed as allauth's field it replaces (label, widget)."""
    return EmailField(label=field.label, widget=field.widget, required=field.required)


class LoginForm(allauth_forms.LoginForm):
    """allauth's login, with the typed email in its canonical form before allauth
    looks it up (allauth only lower-cases it, so `Bo@ＥＸＡＭＰＬＥ.org` would miss
    `bo@example.org`), and before its per-email failed-login limit counts it, so no
    spelling of an address escapes that limit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"] = _canonical_field(self.fields["login"])


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    """allauth's password reset, looking up and mailing the canonical address, never
    the typed one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"] = _canonical_field(self.fields["email"])
