"""allauth's client admin with each client's policy on its page and in its list."""

from allauth.idp.oidc.admin import ClientAdmin as AllauthClientAdmin
from allauth.idp.oidc.models import Client
from django import forms
from django.contrib import admin

from identity.models import ClientPolicy
from identity.sql import DEFAULT_STATUSES
from members.models import Authorization
from members.shapes import MemberStatus


class ClientPolicyForm(forms.ModelForm):
    statuses = forms.MultipleChoiceField(
        choices=MemberStatus.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(DEFAULT_STATUSES),
        help_text="Membership statuses that may log in to this client.",
    )
    requires = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Authorizations a member must hold, every one of them, to log in.",
    )

    class Meta:
        model = ClientPolicy
        fields = ("statuses", "requires")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = list(Authorization.objects.values_list("name", flat=True))
        # A name the catalog no longer has stays choosable until staff untick it.
        kept = (
            [n for n in (self.instance.requires or []) if n not in names]
            if self.instance.pk
            else []
        )
        requires = self.fields["requires"]
        assert isinstance(requires, forms.MultipleChoiceField)
        requires.choices = [(n, n) for n in names + kept]


class ClientPolicyInline(admin.StackedInline):
    model = ClientPolicy
    form = ClientPolicyForm
    can_delete = False
    min_num = 1
    max_num = 1
    extra = 0
    verbose_name = "who may log in"
    verbose_name_plural = "who may log in"


admin.site.unregister(Client)


@admin.register(Client)
class ClientAdmin(AllauthClientAdmin):
    inlines = [ClientPolicyInline]
    list_display = (*AllauthClientAdmin.list_display, "who_may_log_in")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("policy")

    @admin.display(description="who may log in")
    def who_may_log_in(self, obj):
        try:
            return obj.policy.summary
        except ClientPolicy.DoesNotExist:
            return ClientPolicy(client=obj).summary
