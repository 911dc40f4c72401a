"""The member list's action "Activate after onboarding": a page asking when the ID was
checked and by whom, when the waiver was signed and the orientation done, then
services.member_activate for each selected member."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone

from members import services
from members.models import Member, User
from staff.display import membership_text, plural


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


def activatable(member) -> bool:
    """As services.member_activate decides: no status yet, or one it may change."""
    status = member.read("status")
    if status is not None and "membership_status" in status.unreadable:
        return False
    return member.membership_status is None or member.membership_status in services.ACTIVATABLE


# Activation sets the status itself: its own right (members.activate_member), so an
# Onboarder may activate without the right to change the status by hand.
@admin.action(description="Activate after onboarding", permissions=["activate"])
def activate_members(model_admin, request, queryset):
    members = list(queryset.only("id", "identity", "username", "email", "status"))
    members.sort(key=lambda m: m.pk)
    if request.POST.get("confirm") == "yes":
        form = ActivateForm(request.POST)
        if form.is_valid():
            _activate(model_admin, request, members, form.cleaned_data)
            return None
    else:
        today = timezone.localdate()
        form = ActivateForm(
            initial={
                "id_checked_on": today,
                "id_checked_by": request.user.pk,
                "waiver_signed_on": today,
                "orientation_completed_on": today,
            }
        )
    rows = [(m, membership_text(m), activatable(m)) for m in members]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Activate after onboarding",
        "opts": model_admin.opts,
        "rows": rows,
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action": "activate_members",
    }
    return TemplateResponse(request, "admin/members/member/activate.html", context)


def _activate(model_admin, request, members, data):
    outcome: dict[str, list[Member]] = {}
    # member_activate records each activation as a staff write by this user.
    for member in members:
        result = services.member_activate(member_id=member.pk, by=request.user, **data)
        outcome.setdefault(result, []).append(member)

    def names(result):
        return ", ".join(str(m) for m in outcome.get(result, []))

    activated = len(outcome.get(services.ACTIVATED, []))
    model_admin.message_user(
        request, f"Activated {plural(activated, 'member', 'members')}.", messages.SUCCESS
    )
    if services.REFUSED in outcome:
        model_admin.message_user(
            request,
            "Not activated (banned, or a status this action does not change): "
            + names(services.REFUSED)
            + ".",
            messages.ERROR,
        )
    if services.ALREADY_ACTIVE in outcome:
        model_admin.message_user(
            request, "Already active: " + names(services.ALREADY_ACTIVE) + ".", messages.INFO
        )
