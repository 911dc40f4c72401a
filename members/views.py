"""The member dashboard (DESIGN §6). Every page is the logged-in member's own: no URL
takes a member id. Pages read the record defensively, since legacy and damaged rows
may have NULL columns, missing keys and values of the wrong type."""

import datetime
import functools

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.utils import dateformat
from django.views.decorators.http import require_http_methods, require_safe

from members.audit import audit
from members.forms import FloofForm, ProfileForm, RfidAddForm, RfidRemoveForm
from members.models import Member, MemberStatus, rfid_tag_form

UNKNOWN = "unknown, please contact staff"
require_get_or_post = require_http_methods(["GET", "HEAD", "POST"])


def member_page(view):
    """Login required; passes the user's member (or None); a banned member is sent to
    the locked page, whatever the method."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        member = Member.objects.filter(user=request.user).first()
        if member is not None and member.membership_status == MemberStatus.BANNED:
            return redirect("dashboard_locked")
        return view(request, member, *args, **kwargs)

    return wrapper


# Readers: None stands for "the record cannot say", shown as UNKNOWN.


def _column(member, column):
    value = getattr(member, column, None) if member is not None else None
    return value if isinstance(value, dict) else None


def _text(data, key, blank=""):
    if data is None:
        return None
    value = data.get(key)
    if value is None or value == "":
        return blank
    return value if isinstance(value, str | int | float) else None


def _date(data, key, blank):
    """A stored "YYYY-MM-DD" (or ISO timestamp) as "15 January 2026"."""
    if data is None:
        return None
    value = data.get(key)
    if value is None or value == "":
        return blank
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return dateformat.format(parsed, "j F Y")


def _list(data, key):
    if data is None:
        return None
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    return [item if isinstance(item, str) else str(item) for item in value]


def _status_label(member):
    status = member.membership_status if member is not None else None
    return MemberStatus(status).label if status in MemberStatus.values else None


def _notice(member):
    """Which notice the dashboard shows for the member's status."""
    membership = member.membership_status
    if membership == MemberStatus.PENDING:
        return "pending_paid" if member.awaiting_activation else "pending_unpaid"
    if membership in (MemberStatus.LAPSED, MemberStatus.SUSPENDED, MemberStatus.ACTIVE):
        return membership
    return "unknown"


@require_safe
@member_page
def dashboard(request, member):
    context = {"member": member}
    if member is not None:
        status = _column(member, "status")
        context.update(
            status_label=_status_label(member),
            level=_text(status, "membership_level", blank=None),
            renewal=_date(status, "renewal_date", blank="not set yet"),
            notice=_notice(member),
            payment_problem=bool(status and status.get("payment_problem") is True),
            portal_url=settings.STRIPE_CUSTOMER_PORTAL_URL,
        )
    return render(request, "members/dashboard.html", context)


def _initial(form_class, member):
    initial = {}
    for field, (column, key) in form_class.KEYS.items():
        value = _text(_column(member, column), key)
        initial[field] = "" if value is None else value
    return initial


def _changed(form, member):
    """The keys whose submitted value differs from the stored one, by column. Blank
    and missing mean the same ("not set"), so re-saving an untouched form is a no-op."""
    changes = {}
    for field, (column, key) in form.KEYS.items():
        new = form.cleaned_data[field]
        data = getattr(member, column)
        old = data.get(key) if isinstance(data, dict) else None
        if (old or None) != (new or None):
            changes.setdefault(column, {})[key] = new
    return changes


def _edit_page(request, member, form_class, template):
    if member is None:
        return render(request, template, {"member": None})
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            changes = _changed(form, member)
            if not changes:
                messages.info(request, "Nothing to save: no field changed.")
            else:
                with audit("member", request.user):
                    written = Member.objects.filter(pk=member.pk).merge_json_columns(
                        changes, user=request.user
                    )
                if written:
                    messages.success(request, "Saved.")
                else:
                    messages.error(
                        request,
                        "Your record needs a hand from staff before it can be edited here; "
                        "nothing was saved. Please contact staff.",
                    )
            return redirect(request.path)
    else:
        form = form_class(initial=_initial(form_class, member))
    return render(request, template, {"member": member, "form": form})


@require_get_or_post
@member_page
def profile(request, member):
    return _edit_page(request, member, ProfileForm, "members/profile.html")


@require_get_or_post
@member_page
def floof(request, member):
    return _edit_page(request, member, FloofForm, "members/floof.html")


def _keys_page(request, member, form=None, status=200):
    access = _column(member, "access")
    tags = _list(access, "rfid_tags")
    context = {
        "member": member,
        "tags": [rfid_tag_form(t) for t in tags] if tags is not None else None,
        "membership": member.membership_status if member is not None else None,
        "can_change": member is not None and member.membership_status == MemberStatus.ACTIVE,
        "form": form or RfidAddForm(),
    }
    return render(request, "members/keys.html", context, status=status)


@require_get_or_post
@member_page
def keys(request, member):
    if request.method != "POST":
        return _keys_page(request, member)
    if member is None or member.membership_status != MemberStatus.ACTIVE:
        messages.error(request, "Only active members can change their keys.")
        return _keys_page(request, member, status=403)
    # The status is checked again in the UPDATE itself, in case it changed since.
    own_active = Member.objects.filter(pk=member.pk, status__membership_status__iexact="active")
    if request.POST.get("action") == "remove":
        return _remove_key(request, member, own_active)
    form = RfidAddForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, member, form)
    tag = form.cleaned_data["tag"]
    try:
        # A savepoint, so a refused tag leaves the request's connection usable.
        with audit("member", request.user), transaction.atomic():
            added = own_active.add_rfid_tag(tag, user=request.user)
    except IntegrityError:
        form.add_error("tag", f"Tag {tag} is registered to another member; staff can help.")
        return _keys_page(request, member, form)
    if added:
        messages.success(request, f"Tag {tag} added.")
    elif tag in [rfid_tag_form(t) for t in _list(_column(member, "access"), "rfid_tags") or []]:
        messages.info(request, f"Tag {tag} is already on your account.")
    else:
        messages.error(request, "Your keys could not be changed. Please contact staff.")
    return redirect("dashboard_keys")


def _remove_key(request, member, own_active):
    form = RfidRemoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That is not a tag number.")
        return redirect("dashboard_keys")
    tag = form.cleaned_data["tag"]
    with audit("member", request.user), transaction.atomic():
        removed = own_active.remove_rfid_tag(tag, user=request.user)
    if removed:
        messages.success(request, f"Tag {tag} removed.")
    else:
        messages.info(request, f"Tag {tag} is not on your account.")
    return redirect("dashboard_keys")


@require_safe
@member_page
def auths(request, member):
    data = _column(member, "authorizations")
    context = {
        "member": member,
        "physical": _list(data, "authorizations"),
        "computer": _list(data, "computer_authorizations"),
    }
    return render(request, "members/auths.html", context)


def _yes_no(value):
    if value is None:
        return "no"
    return {True: "yes", False: "no"}.get(value)


@require_safe
@member_page
def storage(request, member):
    context = {"member": member}
    if member is not None:
        status = _column(member, "status")
        extras = _column(member, "extras")
        forms = _column(member, "forms")
        context.update(
            member_since=_date(status, "member_since", blank=None),
            storage_id=_text(extras, "storage_id", blank="none assigned"),
            storage_area=_text(extras, "storage_area", blank="none assigned"),
            id_check_1=_text(forms, "id_check_1", blank="not yet"),
            id_check_2=_text(forms, "id_check_2", blank="not yet"),
            terms=_yes_no(forms.get("terms_of_use_accepted")) if forms is not None else None,
            terms_at=_date(forms, "terms_accepted_at", blank=""),
            orientation=_date(forms, "orientation_completed_date", blank="not yet"),
            waiver=_date(forms, "waiver_signed_date", blank="not yet"),
        )
    return render(request, "members/storage.html", context)


@require_safe
@login_required
def locked(request):
    member = Member.objects.filter(user=request.user).first()
    if member is None or member.membership_status != MemberStatus.BANNED:
        return redirect("dashboard")
    return render(request, "members/locked.html", {"member": member})
