"""/dashboard/account/: the member's password, their login email (a link mailed to the
new address, members/email_change.py) and their other sessions; and the page that link
opens, /dashboard/account/email/<token>/."""

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from dashboard.forms import EmailChangeForm, LimitedPasswordChangeForm
from dashboard.views import member_page, require_get_or_post
from members import services
from members.email_change import (
    BadEmailChangeLink,
    email_change_link_used,
    email_change_mail_queue,
    email_change_read,
)
from members.logins import login_sessions_end
from members.models import Member, MemberStatus
from members.ratelimit import counter_hit

# Confirmation mails a member may ask for per hour: each goes to an address they type.
EMAIL_CHANGE_MAILS_PER_HOUR = 5


def _account_page(request, member, *, password_form=None, email_form=None, status=200):
    context = {
        "member": member,
        "password_form": password_form or LimitedPasswordChangeForm(request.user),
        "email_form": email_form,
        # The second factor is allauth's (/accounts/2fa/); the page says whether it is on.
        "second_factor": is_mfa_enabled(request.user),
    }
    if member is not None and email_form is None:
        context["email_form"] = EmailChangeForm(member=member, user=request.user)
    return render(request, "members/account.html", context, status=status)


def _email_change_allowed(member) -> bool:
    key = f"email-change-mails:{member.pk}"
    return counter_hit(key, seconds=3600) <= EMAIL_CHANGE_MAILS_PER_HOUR


def _password_change(request, member):
    form = LimitedPasswordChangeForm(request.user, request.POST)
    if not form.is_valid():
        status = 429 if form.has_error("old_password", "locked") else 200
        return _account_page(request, member, password_form=form, status=status)
    form.save()
    # This session stays logged in; every other one holds the old hash and ends.
    update_session_auth_hash(request, form.user)
    messages.success(request, "Your password was changed. Other sessions are logged out.")
    return redirect("dashboard_account")


def _email_change(request, member):
    form = EmailChangeForm(request.POST, member=member, user=request.user)
    if not form.is_valid():
        status = 429 if form.has_error("current_password", "locked") else 200
        return _account_page(request, member, email_form=form, status=status)
    if not _email_change_allowed(member):
        messages.error(request, "Too many confirmation mails this hour; try again later.")
        return _account_page(request, member, email_form=form, status=429)
    email = form.cleaned_data["email"]
    email_change_mail_queue(member=member, email=email)
    messages.info(
        request,
        f"We sent a link to {email}. Open it to confirm; until then your login email "
        "stays as it is.",
    )
    return redirect("dashboard_account")


def _other_sessions_end(request, member):
    ended = login_sessions_end(user=request.user, keep=request.session.session_key)
    noun = "session" if ended == 1 else "sessions"
    messages.success(request, f"Logged out {ended} other {noun}.")
    return redirect("dashboard_account")


@never_cache
@require_get_or_post
@member_page
def account(request, member):
    if request.method != "POST":
        return _account_page(request, member)
    action = request.POST.get("action")
    if action == "password":
        return _password_change(request, member)
    if action == "email" and member is not None:
        return _email_change(request, member)
    if action == "sessions":
        return _other_sessions_end(request, member)
    messages.error(request, "Nothing was changed.")
    return redirect("dashboard_account")


def _email_link_page(request, template, context=None, status=200):
    return render(request, template, {"member": None, **(context or {})}, status=status)


@never_cache
@require_get_or_post
def email_confirm(request, token):
    """The link mailed to a new login address. GET shows what it would change and a
    button; only the POST changes anything. Anonymous visitors are asked to log in
    without the link in the login URL (it would end up in logs and history)."""
    if not request.user.is_authenticated:
        messages.info(request, "Log in, then open the link from the mail again.")
        return redirect(f"{settings.LOGIN_URL}?next=/dashboard/account/")
    member = Member.objects.filter(user=request.user).first()
    if member is not None and member.membership_status == MemberStatus.BANNED:
        return redirect("dashboard_locked")
    try:
        data = email_change_read(token)
    except BadEmailChangeLink:
        return _email_link_page(request, "members/email_link_bad.html", status=400)
    if member is None or data["m"] != member.pk:
        # Another member's link: it says nothing about that member.
        return _email_link_page(request, "members/email_link_bad.html", status=400)
    new_email = data["to"]
    if member.email == new_email:
        return _email_link_page(request, "members/email_link_done.html", {"email": new_email})
    if member.email != data["from"] or email_change_link_used(data["n"]):
        # The login email changed since the link was sent (another link, or staff), or
        # this link was used already (and its change reverted since): it works once.
        return _email_link_page(request, "members/email_link_bad.html", status=400)
    if request.method == "POST":
        return _email_confirmed(request, member, new_email, data["n"])
    return render(request, "members/email_confirm.html", {"member": member, "new_email": new_email})


def _email_confirmed(request, member, new_email, link_id):
    try:
        services.member_email_change(
            member=member, email=new_email, by=request.user, link_id=link_id
        )
    except services.LinkUsed:
        return _email_link_page(request, "members/email_link_bad.html", status=400)
    except services.MemberClash as clash:
        context = {"member": member, "new_email": new_email, "problem": clash.message}
        return render(request, "members/email_confirm.html", context)
    except ValidationError:
        return _email_link_page(request, "members/email_link_bad.html", status=400)
    messages.success(request, f"Your login email is now {new_email}.")
    return redirect("dashboard_account")
