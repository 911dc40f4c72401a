"""Every admin staff use for the members app's tables, registered with the site."""

from django.contrib import admin

from members.models import Authorization, ErasureRequest, Member, Notification, User
from staff.catalog_admin import AuthorizationAdmin
from staff.erasure_admin import ErasureRequestAdmin
from staff.member_admin import MemberAdmin
from staff.notification_admin import NotificationAdmin
from staff.user_admin import PortalUserAdmin

admin.site.register(Member, MemberAdmin)
admin.site.register(User, PortalUserAdmin)
admin.site.register(ErasureRequest, ErasureRequestAdmin)
admin.site.register(Notification, NotificationAdmin)
admin.site.register(Authorization, AuthorizationAdmin)
