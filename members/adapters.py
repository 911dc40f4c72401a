from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Members join through the signup app, whose critical transaction creates
        # the user, the verified address and the member together.
        return False
