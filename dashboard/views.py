"""The member dashboard. Every page is the logged-in member's own: no URL takes a
member id. Pages read the record through the shapes' tolerant readers
(members/shapes.py), since legacy and damaged rows may have NULL columns, missing keys
and values of the wrong type; writes go through one service function each."""

import datetime
import functools
import re
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from dashboard.forms import FloofForm, ProfileForm, RfidAddForm, RfidRemoveForm
from dhportal.templatetags.site import day
from members import services
from members.models import Member, MemberStatus
from members.subscriptions import PAYING, PROBLEM, SubscriptionStatus

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


# What a page shows for one key of a reading: None stands for "the record cannot say"
# (a NULL or damaged column, or a value of the wrong type), shown as UNKNOWN; `blank`
# is what a missing, null or empty value says.


def _read(member, column):
    return member.read(column) if member is not None else None


def _shown(reading, key, blank=""):
    if reading is None or key in reading.unreadable:
        return None
    value = getattr(reading, key)
    if value is None or value == "":
        return blank
    if isinstance(value, datetime.date):
        # Dates read the same way on every page: "15 January 2026" (the `day` filter).
        return day(value)
    return value


def _yes_no(reading, key):
    if reading is None or key in reading.unreadable:
        return None
    return "yes" if getattr(reading, key) else "no"


def _status_label(member):
    status = member.membership_status if member is not None else None
    return status.label if status is not None else None


def _notice(member):
    """Which notice the dashboard shows for the member's status."""
    membership = member.membership_status
    if membership == MemberStatus.PENDING:
        return "pending_paid" if member.awaiting_activation else "pending_unpaid"
    if membership in (MemberStatus.LAPSED, MemberStatus.SUSPENDED, MemberStatus.ACTIVE):
        return membership
    return "unknown"


# What the billing card calls each Stripe subscription status.
SUBSCRIPTION_LABELS: dict[str, str] = {
    SubscriptionStatus.ACTIVE: "Active",
    SubscriptionStatus.TRIALING: "Trial",
    SubscriptionStatus.PAST_DUE: "Payment overdue",
    SubscriptionStatus.UNPAID: "Unpaid",
    SubscriptionStatus.INCOMPLETE: "Waiting for the first payment",
    SubscriptionStatus.INCOMPLETE_EXPIRED: "First payment failed",
    SubscriptionStatus.PAUSED: "Paused",
    SubscriptionStatus.CANCELED: "Canceled",
}
# Shown red: a payment owed, or a first payment still missing or failed.
_PROBLEM_TONE = PROBLEM | {SubscriptionStatus.INCOMPLETE, SubscriptionStatus.INCOMPLETE_EXPIRED}


def _subscription_tone(state: str) -> str:
    """Good news (shown green), a problem (red) or neither."""
    if state in PAYING:
        return "good"
    return "problem" if state in _PROBLEM_TONE else ""


# A plan's Stripe product id looks like this; staff name plans in admin (billing.Plan),
# and until they do the webhook stores the id, which the card never shows.
PRODUCT_ID_RE = re.compile(r"^prod_\w+$")


def _plan_name(status):
    """The plan's name, or None when the record cannot say; never a raw Stripe
    product id (an unnamed plan reads as one staff have not named)."""
    level = _shown(status, "membership_level", blank=None)
    if not level or not isinstance(level, str):
        return level
    product = _shown(status, "stripe_product_id", blank="")
    if level == product or PRODUCT_ID_RE.match(level):
        return "Membership (plan name not set yet)"
    return level


def _subscription(status):
    """(label, tone) of the subscription state, or None when the record cannot say."""
    state = _shown(status, "subscription_status", blank="")
    if state is None or not isinstance(state, str):
        return None
    if not state:
        return ("No subscription yet", "")
    state = state.lower()
    label = SUBSCRIPTION_LABELS.get(state, state.replace("_", " ").capitalize())
    return (label, _subscription_tone(state))


def billing_portal_url(member) -> str:
    """STRIPE_CUSTOMER_PORTAL_URL with the member's email prefilled (Stripe's
    `prefilled_email`), or "" when no portal is configured."""
    portal = settings.STRIPE_CUSTOMER_PORTAL_URL
    if not portal:
        return ""
    if not member.email:
        return portal
    separator = "&" if "?" in portal else "?"
    return f"{portal}{separator}{urlencode({'prefilled_email': member.email})}"


@require_safe
@member_page
def dashboard(request, member):
    context = {"member": member}
    if member is not None:
        status = member.read("status")
        subscription = _subscription(status)
        context.update(
            status_label=_status_label(member),
            plan=_plan_name(status),
            subscription=subscription,
            renewal=_shown(status, "renewal_date", blank="not set yet"),
            ended=subscription is not None and subscription[0] == "Canceled",
            notice=_notice(member),
            payment_problem=status is not None and status.payment_problem is True,
            portal_url=billing_portal_url(member),
        )
    return render(request, "members/dashboard.html", context)


def _initial(keys, member):
    """The edit form's values: what the record holds, and for a value of the wrong type
    the stored text itself, so the member sees what is on record (a reading is never
    written back: only the keys the member changes are saved)."""
    initial = {}
    for field, (column, key) in keys.items():
        reading = member.read(column)
        value = getattr(reading, key) if reading is not None else None
        if reading is not None and key in reading.unreadable:
            stored = getattr(member, column).get(key)
            is_text = isinstance(stored, str | int | float) and not isinstance(stored, bool)
            value = stored if is_text else None
        initial[field] = "" if value is None else value
    return initial


_SAVED_MESSAGES = {
    services.SAVED: (messages.SUCCESS, "Saved."),
    services.UNCHANGED: (messages.INFO, "Nothing to save: no field changed."),
    services.REFUSED: (
        messages.ERROR,
        "Your record needs a hand from staff before it can be edited here; "
        "nothing was saved. Please contact staff.",
    ),
}


def _edit_page(request, member, form_class, keys, update, template, extra=None):
    if member is None:
        return render(request, template, {"member": None})
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            outcome = update(member=member, by=request.user, **form.cleaned_data)
            messages.add_message(request, *_SAVED_MESSAGES[outcome])
            return redirect(request.path)
    else:
        form = form_class(initial=_initial(keys, member))
    return render(request, template, {"member": member, "form": form, **(extra or {})})


@require_get_or_post
@member_page
def profile(request, member):
    return _edit_page(
        request,
        member,
        ProfileForm,
        services.PROFILE_KEYS,
        services.member_profile_update,
        "members/profile.html",
        # The birthday is shown, not edited: staff correct it (signup checked it).
        extra={"birthday": _shown(member.read("identity"), "birthday", blank=None)}
        if member is not None
        else None,
    )


@require_get_or_post
@member_page
def floof(request, member):
    return _edit_page(
        request,
        member,
        FloofForm,
        services.FLOOF_KEYS,
        services.member_floof_update,
        "members/floof.html",
    )


def _keys_page(request, member, form=None, status=200):
    access = _read(member, "access")
    tags = None
    if access is not None and "rfid_tags" not in access.unreadable:
        tags = access.rfid_tags or []
    membership = member.membership_status if member is not None else None
    context = {
        "member": member,
        "tags": tags,
        "membership": membership,
        "can_change": membership == MemberStatus.ACTIVE,
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
    if request.POST.get("action") == "remove":
        return _remove_key(request, member)
    form = RfidAddForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, member, form)
    tag = form.cleaned_data["tag"]
    outcome = services.member_rfid_tag_add(member=member, by=request.user, tag=tag)
    if outcome == services.TAG_HELD:
        form.add_error("tag", f"Tag {tag} is registered to another member; staff can help.")
        return _keys_page(request, member, form)
    if outcome == services.TAG_ADDED:
        messages.success(request, f"Tag {tag} added.")
    elif outcome == services.TAG_PRESENT:
        messages.info(request, f"Tag {tag} is already on your account.")
    elif outcome == services.NOT_ACTIVE:
        messages.error(request, "Only active members can change their keys.")
    else:
        messages.error(request, "Your keys could not be changed. Please contact staff.")
    return redirect("dashboard_keys")


def _remove_key(request, member):
    form = RfidRemoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That is not a tag number.")
        return redirect("dashboard_keys")
    tag = form.cleaned_data["tag"]
    outcome = services.member_rfid_tag_remove(member=member, by=request.user, tag=tag)
    if outcome == services.TAG_REMOVED:
        messages.success(request, f"Tag {tag} removed.")
    elif outcome == services.NOT_ACTIVE:
        messages.error(request, "Only active members can change their keys.")
    else:
        messages.info(request, f"Tag {tag} is not on your account.")
    return redirect("dashboard_keys")


def _names(reading, key):
    if reading is None or key in reading.unreadable:
        return None
    return getattr(reading, key) or []


def _with_grants(member, names):
    """Each name the column lists, with its live grant (date, grantor, expiry) where
    there is one."""
    if names is None:
        return None
    live = {
        g.authorization.name: g
        for g in member.grants.filter(revoked_at__isnull=True).select_related(
            "authorization", "granted_by"
        )
    }
    return [(name, live.get(name)) for name in names]


@require_safe
@member_page
def auths(request, member):
    data = _read(member, "authorizations")
    context = {
        "member": member,
        "physical": _with_grants(member, _names(data, "authorizations")),
        "computer": _with_grants(member, _names(data, "computer_authorizations")),
    }
    return render(request, "members/auths.html", context)


@require_safe
@member_page
def storage(request, member):
    context = {"member": member}
    if member is not None:
        status = member.read("status")
        extras = member.read("extras")
        forms = member.read("forms")
        context.update(
            member_since=_shown(status, "member_since", blank=None),
            storage_id=_shown(extras, "storage_id", blank="none assigned"),
            storage_area=_shown(extras, "storage_area", blank="none assigned"),
            id_check_1=_shown(forms, "id_check_1", blank="not yet"),
            id_check_2=_shown(forms, "id_check_2", blank="not yet"),
            id_check_date=_shown(forms, "id_check_date", blank="not yet"),
            id_check_by=_shown(forms, "id_check_by", blank="not yet"),
            terms=_yes_no(forms, "terms_of_use_accepted"),
            terms_at=_shown(forms, "terms_accepted_at", blank=""),
            orientation=_shown(forms, "orientation_completed_date", blank="not yet"),
            waiver=_shown(forms, "waiver_signed_date", blank="not yet"),
        )
    return render(request, "members/storage.html", context)


# The visits page lists this many of the member's latest door entries.
VISITS = 100


@require_safe
@member_page
def visits(request, member):
    # The door events (integrations) through their relation to the member: the
    # member's own, newest first, read through the per-member time index.
    entries = []
    if member is not None:
        entries = list(
            member.door_events.order_by("-at", "-id").values("at", "door", "granted")[:VISITS]
        )
    return render(request, "members/visits.html", {"member": member, "entries": entries})


@require_safe
@login_required
def locked(request):
    member = Member.objects.filter(user=request.user).first()
    if member is None or member.membership_status != MemberStatus.BANNED:
        return redirect("dashboard")
    return render(request, "members/locked.html", {"member": member})
