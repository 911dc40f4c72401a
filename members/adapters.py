from allauth.account.adapter import DefaultAccountAdapter

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
