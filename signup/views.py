import logging

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from members.models import Member
from signup import ratelimit, services
from signup.forms import USERNAME_TAKEN, DetailsForm, EmailForm, UsernameCheckForm
from signup.mail import signup_mail_queue
from signup.tokens import BadToken, read_token

logger = logging.getLogger(__name__)

NO_SECOND_MEMBER = "You are already signed in, so there is nothing to sign up for."


def _to_dashboard(request: HttpRequest) -> HttpResponse:
    messages.info(request, NO_SECOND_MEMBER)
    return redirect("dashboard")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return _to_dashboard(request)
    form = EmailForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not ratelimit.hit_ip(request, "signup_ip"):
            return ratelimit.too_many_requests(request)
        if form.is_valid():
            email = form.cleaned_data["email"]
            if not ratelimit.hit("signup_email", email):
                return ratelimit.too_many_requests(request)
            # Same redirect for everyone; only the mail tells a member from a newcomer.
            # Nor may the time taken tell them apart: both take the same one query, then
            # queue one mail (one row and one job, signup/mail.py) that a worker sends.
            registered = services.email_registered(email)
            signup_mail_queue(email=email, registered=registered)
            return redirect("signup:sent")
    return render(request, "signup/start.html", {"form": form})


@require_safe
def sent(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return _to_dashboard(request)
    return render(request, "signup/sent.html")


def _bad_link(request: HttpRequest) -> HttpResponse:
    return render(request, "signup/bad_link.html", status=400)


def _complete(request: HttpRequest) -> HttpResponse:
    return render(request, "signup/complete.html")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def continue_signup(request: HttpRequest, token: str) -> HttpResponse:
    if request.user.is_authenticated:
        return _to_dashboard(request)
    try:
        email = read_token(token)
    except BadToken:
        return _bad_link(request)
    if services.email_registered(email):
        return _complete(request)

    if request.method != "POST":
        form = DetailsForm(email=email)
        return render(request, "signup/details.html", {"form": form, "email": email})

    form = DetailsForm(request.POST, email=email)
    valid = form.is_valid()
    if not valid and form.has_error("username", "taken") and services.email_registered(email):
        # A twin submit of this same signup committed first: it is complete, and the
        # username is "taken" by this very visitor.
        return _complete(request)
    if valid:
        data = form.cleaned_data
        try:
            member = services.member_signup(
                email=email,
                username=data["username"],
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                preferred_name=data["preferred_name"],
                pronouns=data["pronouns"],
                birthday=data["birthday"],
                phone=data["phone"],
                discord_username=data["discord_username"],
                is_21_or_older=form.is_21_or_older,
            )
        except services.EmailTaken:
            return _complete(request)
        except services.UsernameTaken:
            # Taken between the form's check and the insert: the unique index said so.
            form.add_error("username", ValidationError(USERNAME_TAKEN, code="taken"))
        except DatabaseError as error:
            logger.error("Signup failed: %s", type(error).__name__)
            messages.error(
                request,
                "Sorry, we could not create your account just now. Nothing was saved; "
                "please try again in a moment.",
            )
        else:
            return _log_in_new_member(request, member)
    return render(request, "signup/details.html", {"form": form, "email": email})


def _log_in_new_member(request: HttpRequest, member: Member) -> HttpResponse:
    """Log the member just committed in and send them to the payment page.

    The session is saved here, not by SessionMiddleware on the way out: if the database
    is lost now, the member exists all the same and the truthful answer is "signup
    complete, log in", which only the view can give (the middleware's failure is a 503).
    """
    response = redirect("signup:payment")
    try:
        login(request, member.user, backend="django.contrib.auth.backends.ModelBackend")
        # Exactly what the middleware does on the way out: save, then set the cookie.
        SessionMiddleware(lambda request: response).process_response(request, response)
    except (DatabaseError, SessionInterrupted) as error:
        # Only the class: the message may quote the row. The four scaffolding steps
        # have logged their own outcome; a failed one leaves its column for repair.
        logger.error("Signup member %s: login failed: %s", member.pk, type(error).__name__)
        # The half-made login is not saved on the way out; this visitor stays anonymous.
        request.session.modified = False
        request.user = AnonymousUser()
        messages.info(
            request, "Your account is ready, but we could not log you in just now: please log in."
        )
        return _complete(request)
    # Saved: nothing is left for the middleware to save, unless something changes it.
    request.session.modified = False
    messages.success(request, "Welcome! Your account is ready.")
    return response


def _stripe_configured() -> bool:
    return bool(settings.STRIPE_PUBLISHABLE_KEY and settings.STRIPE_PRICING_TABLE_ID)


@csp_update(settings.STRIPE_PRICING_TABLE_CSP)
@never_cache
@require_safe
def payment(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("signup:start")
    # Whose page this is comes from the session only; query parameters are never read.
    member = Member.objects.filter(user=request.user).first()
    if member is None:
        messages.info(request, "There is no membership for this login.")
        return redirect("dashboard")
    status = member.membership_status or "pending"
    state = member.payment_state(stripe_configured=_stripe_configured())
    return render(
        request,
        "signup/payment.html",
        {
            "member": member,
            "membership_status": status,
            "state": state,
            "debug": settings.DEBUG,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "pricing_table_id": settings.STRIPE_PRICING_TABLE_ID,
        },
    )


@never_cache
@require_POST
def check_username(request: HttpRequest) -> JsonResponse:
    # A POST (with the form's CSRF token): the continue token travels in the body, never
    # in a query string that access logs and proxies keep.
    if not ratelimit.hit_ip(request, "check_username_ip"):
        return JsonResponse({"error": "Too many requests; try again later."}, status=429)
    form = UsernameCheckForm(request.POST)
    if not form.is_valid():
        errors = form.errors.get("username") or ["A valid username and token are needed."]
        return JsonResponse({"error": str(errors[0])}, status=400)
    try:
        read_token(form.cleaned_data["token"])
    except BadToken:
        return JsonResponse({"error": "This signup link is not valid."}, status=400)
    taken = services.username_taken(form.cleaned_data["username"])
    return JsonResponse({"available": not taken})
