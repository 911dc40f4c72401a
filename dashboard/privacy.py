"""/dashboard/privacy/ (README, "Privacy"): what the portal keeps and why, the member's
copy of their data as a JSON download, and their request for erasure.

Open to banned members too (they keep these rights): the page does not go through the
dashboard's banned-member gate. Login required; the page only ever shows the logged-in
member's own record (no URL takes a member id)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from members import services
from members.erasure import erasure_request_open
from members.models import ErasureRequest, Member
from members.ratelimit import PasswordLocked, counter_hit, password_check_limited

# Downloads a member may make per hour: each one reads their whole history.
EXPORTS_PER_HOUR = 5


def _export_allowed(member) -> bool:
    return counter_hit(f"privacy-exports:{member.pk}", seconds=3600) <= EXPORTS_PER_HOUR


def _page(request, member, status=200):
    context = {
        "member": member,
        "open_request": (
            ErasureRequest.objects.filter(member=member, erased_at=None).first()
            if member is not None
            else None
        ),
        "exports_per_hour": EXPORTS_PER_HOUR,
    }
    return render(request, "members/privacy.html", context, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def privacy(request):
    member = Member.objects.filter(user=request.user).first()
    if request.method != "POST" or member is None:
        return _page(request, member)
    if "export" in request.POST:
        return _export(request, member)
    if "erase" in request.POST:
        return _erase(request, member)
    messages.error(request, "Nothing was changed.")
    return redirect("dashboard_privacy")


def _export(request, member):
    if not _export_allowed(member):
        messages.error(request, "Too many downloads this hour; try again later.")
        return _page(request, member, status=429)
    body = services.member_export_download(member=member, by=request.user)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    day = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="member-{member.pk}-data-{day}.json"'
    return response


def _erase(request, member):
    try:
        right = password_check_limited(request.user, request.POST.get("password", ""))
    except PasswordLocked as locked:
        messages.error(request, f"{locked} Nothing was requested.")
        return _page(request, member, status=429)
    if not right:
        messages.error(request, "That password is not right; nothing was requested.")
        return _page(request, member, status=400)
    _, created = erasure_request_open(member=member)
    if created:
        messages.success(
            request,
            "Your erasure request was sent to staff. They will cancel anything still "
            "billing you, then erase your data; you will be logged out when it is done.",
        )
    else:
        messages.info(request, "You have already asked for erasure; staff will act on it.")
    return redirect("dashboard_privacy")
