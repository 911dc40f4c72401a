from django.contrib.auth.admin import UserAdmin

from dhportal.adminkit import SafeActionsMixin
from members.models import Member


class PortalUserAdmin(SafeActionsMixin, UserAdmin):
    """Logins. A member's email and username are edited on the member page, which keeps
    the login, its address and the member record in step."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and Member.objects.filter(user=obj).exists():
            readonly += ["username", "email"]
        return readonly
