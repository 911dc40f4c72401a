from allauth.account.adapter import DefaultAccountAdapter

from members.models import validate_mailable
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
        # The password-reset form mails whatever address it is given.
        email = super().clean_email(email)
        validate_mailable(email)
        return email
