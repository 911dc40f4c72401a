"""Staff add a member (README "Adding members"): a walk-in who pays at the desk, or
someone without email. The rules are signup's details step's (its form, less the
password) and the write is signup's critical transaction (members.services.member_add,
built on member_create), so a member added at the desk is made like one who signed up."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from members.emails import EmailField
from members.models import violated_field
from members.services import EMAIL_IN_USE, NewMember, member_add
from signup.forms import USERNAME_TAKEN, DetailsForm
from signup.services import email_registered

# What a unique index refusing the write means, by the field it names.
_TAKEN = {"email": EMAIL_IN_USE, "username": USERNAME_TAKEN}


class AddMemberForm(DetailsForm):
    """Signup's details, as staff enter them: no password (the member sets one from
    the invitation), an email that may be left empty, the terms ticked at the desk."""

    password1 = None  # type: ignore[assignment]
    password2 = None  # type: ignore[assignment]
    # DetailsForm keeps the email from signup's link as an attribute; here it is a field.
    email = EmailField(  # type: ignore[assignment]
        required=False,
        help_text="Optional. With an email they get a login without a password; "
        "invite them from the member list to set one.",
    )
    accept_terms = forms.BooleanField(
        required=False,
        label="Accepted the terms of use",
        help_text="Tick when they have read and accepted them.",
    )
    field_order = ["email", "first_name", "last_name", "preferred_name", "pronouns"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, email="", **kwargs)

    def clean_email(self):
        email = self.cleaned_data.get("email") or ""
        # The same answer signup gives: a member, a login, an address or an erased
        # member's ban already holds it.
        if email and email_registered(email):
            raise ValidationError(EMAIL_IN_USE, code="taken")
        return email

    def new_member(self) -> NewMember:
        data = self.cleaned_data
        return NewMember(
            email=data["email"],
            username=data["username"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            birthday=data["birthday"],
            phone=data["phone"],
            is_21_or_older=self.is_21_or_older,
            preferred_name=data["preferred_name"],
            pronouns=data["pronouns"],
            discord_username=data["discord_username"],
            terms_accepted=data["accept_terms"],
        )


def add_member_view(model_admin, request):
    """GET: the form. POST: the member added, then their page; or the form again
    with what is wrong, nothing written."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    form = AddMemberForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            member = member_add(new=form.new_member(), by=request.user)
        except IntegrityError as error:
            # Another write took the email or username since the form was checked.
            field = violated_field(error)
            if field not in _TAKEN:
                raise
            form.add_error(field, _TAKEN[field])
        else:
            model_admin.message_user(
                request,
                f"Added member #{member.pk} {member.full_name}."
                + (" Invite them from the member list to set a password." if member.email else ""),
                messages.SUCCESS,
            )
            return redirect(reverse("admin:members_member_change", args=[member.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Add a member",
        "subtitle": None,
        "opts": model_admin.opts,
        "form": form,
    }
    return TemplateResponse(request, "admin/members/member/add_member.html", context)
