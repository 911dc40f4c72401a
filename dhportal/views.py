import logging
import sys

from allauth.account import views as account_views
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.template import loader
from django.utils.cache import add_never_cache_headers
from django.utils.datastructures import MultiValueDict
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dhportal.db import database_unreachable

logger = logging.getLogger(__name__)

# How long clients (browsers, load balancers, Stripe) are asked to wait before retrying.
RETRY_AFTER_SECONDS = 30


def unavailable_response() -> HttpResponse:
    # No request context: context processors would load the session and the user,
    # which live in the database that is missing.
    body = loader.get_template("503.html").render()
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response


def _forget_unparseable_body(request) -> None:
    """Django's error views check a POST's CSRF token again, which reads the body
    again; a body that already failed to parse (a form in another charset, multipart
    without a boundary) would raise once more and turn any answer into a 500. For the
    error page, such a body is empty."""
    try:
        request.POST  # noqa: B018 (parsed here, or the cached parse error re-raised)
    except Exception:  # BadRequest, MultiPartParserError, UnicodeDecodeError ...
        request._post, request._files = QueryDict(), MultiValueDict()


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. Django calls it inside its `except` block, so the exception is in
    sys.exc_info(). A database outage is a 503 that browsers, load balancers and Stripe
    retry; django.request still logs the error with its traceback."""
    if database_unreachable(sys.exc_info()[1]):
        return unavailable_response()
    _forget_unparseable_body(request)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400. SessionMiddleware reports a session it could not save as
    SessionInterrupted, a 400, even when the save failed because the database is
    gone; that is an outage, not a bad request."""
    if database_unreachable(exception):
        return unavailable_response()
    _forget_unparseable_body(request)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    _forget_unparseable_body(request)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    _forget_unparseable_body(request)
    return defaults.page_not_found(request, exception)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("Health check: database unavailable (%s)", type(error).__name__)
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def not_found(request: HttpRequest, **kwargs: object) -> HttpResponse:
    raise Http404


def password_reset_from_key(request: HttpRequest, uidb36: str, key: str) -> HttpResponse:
    """A password-reset link opened while signed in: explain instead of signing the
    visitor out, which allauth would do even on a GET (a link in any page or mail could
    end someone's session). Once logged out, the same link works."""
    if request.user.is_authenticated:
        return render(request, "account/password_reset_signed_in.html")
    return account_views.password_reset_from_key(request, uidb36=uidb36, key=key)
