"""Every URL in the URLconf, visited as an anonymous visitor, a member, view/change staff
and a superuser, with production's HTTPS settings on: every answer carries the security
headers, none is a server error, and no GET, HEAD, OPTIONS or refused POST changes the
database or who is logged in.

The URLs come from walking the resolver (admin and allauth included), so a URL added
later is crawled without touching this file; a pattern the crawl cannot fill fails the
first test, naming it."""

import itertools
import re
from dataclasses import dataclass
from importlib import import_module
from urllib.parse import urlencode

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.account.utils import user_pk_to_url_str
from allauth.idp.oidc.models import Token
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils import timezone
from pghistory.models import Events

from billing.models import ReconcileFinding, ReconcileRun
from identity.clients import client_create
from integrations.models import Delivery, DeliveryState, Endpoint, FeedEvent
from integrations.services import access_key_create
from members.email_change import email_change_token
from members.grants import authorization_grant
from members.models import Authorization, ErasureRequest, Member
from members.notifications import notification_create
from signup.tokens import make_token
from tests.factories import (
    DEFAULT_PASSWORD,
    DoorEventFactory,
    MemberFactory,
    PlanFactory,
    StaffFactory,
    StripeEventFactory,
    SubscriptionFactory,
    UserFactory,
    logged_in,
)
from tests.staff.conftest import column_permissions

ROLES = ("anonymous", "member", "staff", "superuser")
METHODS = ("GET", "HEAD", "OPTIONS", "POST")

# Garbage for every parameter: a word, a number past bigint, and a NUL (which
# PostgreSQL refuses in text, so it must be stopped before any query).
GARBAGE = ("no-such-thing", "99999999999999999999", "%00")

# Query strings for every admin list, built from its model: a datetime filter whose
# offset Python parses and PostgreSQL refuses (the database holds offsets below 16 h).
BAD_OFFSET = "0001-01-01T00:00:00+23:59"
# pghistory's own filters on the audit history: an object id its model cannot hold (or
# a row that does not exist), and an "event model" that is none.
HISTORY_QUERIES = (
    {"obj": "members.Member:abc"},
    {"obj": "members.Member:1.5"},
    {"obj": "members.Member:1:2"},
    {"obj": "members.Member:99999999999999999999"},
    {"event_model": "auth.permission"},
)
# Event ids name their event model; an id naming another model, per event page.
EVENT_GARBAGE = (quote("auth.Permission:1"),)

# Patterns no request can reach, by URL name, with why. Each must really be shadowed.
SHADOWED = {
    "account_email": (
        "allauth's email page: dhportal/urls.py answers accounts/email/ first with a "
        "redirect, since a member's login email changes only through staff"
    ),
    "account_confirm_email": (
        "allauth's confirmation link: dhportal/urls.py answers 404 first, since addresses "
        "are verified by the signup link and allauth's page logs out on GET"
    ),
    "account_reset_password_from_key": (
        "allauth's reset link: dhportal/urls.py answers it first with a view that never "
        "logs out a signed-in visitor"
    ),
    "admin:view_on_site": (
        "Django's view-on-site redirect: dhportal/urls.py answers it first, with a 404 for "
        "a content type whose rows have no page (or no table) and an id its key cannot hold"
    ),
}

# URLs whose GET (HEAD, OPTIONS) may write the session row and nothing else, with why.
SESSION_WRITING_GETS = {
    "password_reset_from_key": (
        "allauth moves a valid reset key from the URL into the session and redirects to "
        "a URL without it, so the key cannot leak through a Referer header"
    ),
}

# The production HTTPS settings (dhportal/settings.py with HTTPS on, which
# tests/test_settings.py checks production gets); the test settings run plain http.
PRODUCTION_HTTPS = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_REDIRECT_EXEMPT": [r"^healthz$"],
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
}


@pytest.fixture
def https(settings):
    for name, value in PRODUCTION_HTTPS.items():
        setattr(settings, name, value)


# --- the URLconf -------------------------------------------------------------------


class Unfillable(Exception):
    pass


@dataclass(frozen=True)
class Route:
    route: str  # as ResolverMatch.route spells it
    name: str | None  # namespaced URL name
    patterns: tuple  # from the root resolver down to the endpoint
    callback: object

    @property
    def params(self) -> list[str]:
        names = []
        for pattern in self.patterns:
            if isinstance(pattern, RegexPattern):
                if pattern.regex.groups != len(pattern.regex.groupindex):
                    raise Unfillable("has unnamed groups")
                names += sorted(pattern.regex.groupindex, key=pattern.regex.groupindex.get)
            else:
                names += list(pattern.converters)
        return names

    def url(self, values: dict[str, str]) -> str:
        return "/" + "".join(_fill(pattern, values) for pattern in self.patterns)


def _join(route1: str, route2: str) -> str:
    # Django's URLResolver._join_route, so routes compare equal to ResolverMatch.route.
    return route2 if not route1 else route1 + route2.removeprefix("^")


def url_routes() -> list[Route]:
    def walk(patterns, above, route, namespaces):
        for entry in patterns:
            here = _join(route, str(entry.pattern))
            if isinstance(entry, URLResolver):
                inner = [*namespaces, entry.namespace] if entry.namespace else namespaces
                yield from walk(entry.url_patterns, (*above, entry.pattern), here, inner)
            else:
                name = ":".join([*namespaces, entry.name]) if entry.name else None
                yield Route(here, name, (*above, entry.pattern), entry.callback)

    return list(walk(get_resolver().url_patterns, (), "", []))


_ROUTE_PARAM = re.compile(r"<(?:[^>:]+:)?(?P<name>[^>]+)>")
_LITERAL = re.compile(r"[\w/.-]*")


def _fill(pattern, values) -> str:
    if isinstance(pattern, RoutePattern):
        return _ROUTE_PARAM.sub(lambda m: values[m["name"]], str(pattern))
    if not isinstance(pattern, RegexPattern):
        raise Unfillable(f"unknown pattern type {type(pattern).__name__}")
    text = str(pattern).removeprefix("^").removesuffix("$")
    parts, i = [], 0
    while (start := text.find("(?P<", i)) != -1:
        parts.append(_literal(text[i:start], pattern))
        name_end = text.index(">", start)
        depth, j = 1, name_end + 1
        while depth:
            if text[j] == "\\":
                j += 2
                continue
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        parts.append(values[text[start + 4 : name_end]])
        i = j
    parts.append(_literal(text[i:], pattern))
    return "".join(parts)


def _literal(text, pattern) -> str:
    if not _LITERAL.fullmatch(text):
        raise Unfillable(f"regex syntax outside named groups in {pattern}")
    return text


def _model_admin(callback):
    """The ModelAdmin behind an admin URL: set by ModelAdmin.get_urls' wrapper, or the
    bound method that AdminSite.admin_view wrapped (UserAdmin's password page)."""
    found = getattr(callback, "model_admin", None)
    while found is None and callback is not None:
        found = getattr(callback, "__self__", None)
        callback = getattr(callback, "__wrapped__", None)
    return found if isinstance(found, admin.ModelAdmin) else None


# --- real rows to fill the URLs with ------------------------------------------------


@dataclass
class World:
    users: dict  # role -> user (None for anonymous)
    stranger: object  # a member no crawl client logs in as
    values: dict  # parameter name -> real values


@pytest.fixture
def world(db):
    member = MemberFactory()
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_member", "change_member"]),
        *column_permissions("view", "change"),
    )
    superuser = StaffFactory()
    stranger = MemberFactory(membership="pending")
    # The records staff pages must cope with: partial, legacy (no login), banned.
    MemberFactory(
        status=None,
        connections=None,
        forms=None,
        notes=None,
        access=None,
        authorizations=None,
        extras=None,
    )
    legacy = MemberFactory(user=None, email="legacy@example.org", username="legacy", status=None)
    legacy.imported_rows.create(legacy_id=7, detail=[{"field": "username", "fix": "kept"}])
    MemberFactory(membership="banned")
    UserFactory()
    # A tool with a trainer, granted to the member (the authorize page's rows).
    laser = Authorization.objects.create(name="Laser cutter")
    laser.trainers.add(superuser)
    authorization_grant(member_id=member.pk, authorization=laser, by=superuser)
    Group.objects.create(name="door stewards")
    PlanFactory(stripe_product_id="prod_Factory0000")
    SubscriptionFactory(member=member)
    StripeEventFactory(member=member)
    StripeEventFactory(member=None, state="unmatched", error="")
    # What reconciliation leaves (billing/reconcile.py): a run and an open finding.
    ReconcileRun.objects.create(started=timezone.now(), summary="endpoint ok, crawled")
    ReconcileFinding.objects.create(
        kind="subscription",
        stripe_object="sub_Crawl",
        member=member,
        detail="Subscription sub_Crawl: active here, canceled at Stripe.",
        found=timezone.now(),
        last_seen=timezone.now(),
    )
    # A queued lifecycle mail: a notification row and its send job (procrastinate's).
    notification_create(member=member, kind="activated", key="crawl")
    # The change feed: an endpoint, a dead delivery of a captured event, an access key.
    endpoint = Endpoint.objects.create(name="door", url="http://127.0.0.1:9/", secret="s")
    event = FeedEvent.objects.filter(member=member).latest("pk")
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event=event,
        member_id=member.pk,
        sequence=event.sequence,
        state=DeliveryState.DEAD,
        last_answer="HTTP 500",
    )
    access_key_create(name="door controller")
    # Door events: the member's entry, and a tag nobody holds.
    DoorEventFactory(member=member, tag="0000000001")
    DoorEventFactory(granted=False)
    # An open erasure request (members/erasure.py), for its admin pages.
    ErasureRequest.objects.create(member=stranger)
    # The identity provider: a client with its policy, a token of the member's for it,
    # and the member's second factor, for their admin pages.
    client, _ = client_create(name="Wiki", redirect_uris=["https://wiki.example.org/cb"])
    Token.objects.create(
        client=client, user=member.user, type=Token.Type.ACCESS_TOKEN, hash="crawl"
    )
    TOTP.activate(member.user, generate_totp_secret())

    # A verified address's confirmation link is dead; an old unverified one's is live.
    addresses = [
        EmailAddress.objects.get(user=stranger.user),
        EmailAddress.objects.create(
            user=stranger.user, email="old-address@example.org", verified=False, primary=False
        ),
    ]
    values = {
        # A newcomer's continue link (the details form) and a member's (signup complete).
        # And a member's own login email change link (the account page's).
        "token": [
            make_token("newcomer@example.org"),
            make_token(stranger.email),
            email_change_token(
                member_id=member.pk, old_email=member.email, new_email="moved@example.org"
            ),
        ],
        # The links are another account's, as a stranger might send them.
        "key": [EmailConfirmationHMAC(address).key for address in addresses],
        "uidb36": [user_pk_to_url_str(stranger.user)],
        "reset_key": [default_token_generator.make_token(stranger.user), "set-password"],
        "app_label": sorted({model._meta.app_label for model in admin.site._registry}),
        "delivery_id": [str(delivery.pk)],
        # admin's catch-all: a page missing its slash, and no page at all.
        "url": ["members/member", "no-such-page/"],
    }
    return World(
        users={"anonymous": None, "member": member.user, "staff": staff, "superuser": superuser},
        stranger=stranger,
        values=values,
    )


def _pks(model) -> list[str]:
    manager = getattr(model, "objects", model._default_manager)
    return [quote(str(pk)) for pk in manager.order_by("pk").values_list("pk", flat=True)[:4]]


def real_kwargs(route: Route, world: World) -> list[dict]:
    params = route.params
    if route.name in ("view_on_site", "admin:view_on_site"):
        # Every content type, its model registered in admin or not, with a table or not;
        # pghistory's events (no table) first, so the garbage ids go with it. Real rows
        # of two models.
        events = ContentType.objects.get_for_model(Events).pk
        content_types = ContentType.objects.values_list("pk", flat=True)
        return [
            {"content_type_id": str(pk), "object_id": "1"}
            for pk in sorted(content_types, key=lambda pk: (pk != events, pk))
        ] + [
            {
                "content_type_id": str(ContentType.objects.get_for_model(model).pk),
                "object_id": pk,
            }
            for model in (Member, type(world.stranger.user))
            for pk in _pks(model)[:2]
        ]
    if route.name in ("password_reset_from_key", "account_reset_password_from_key"):
        return [
            {"uidb36": uid, "key": key}
            for uid in world.values["uidb36"]
            for key in world.values["reset_key"]
        ]
    model_admin = _model_admin(route.callback)
    choices = []
    for param in params:
        if model_admin is not None and param in ("object_id", "id"):
            found = _pks(model_admin.model)
            if not found:
                raise Unfillable(f"no {model_admin.model._meta.label} rows for {param}")
        elif param in world.values:
            found = world.values[param]
        else:
            raise Unfillable(f"no real value for parameter {param!r}")
        choices.append(found)
    return [dict(zip(params, combo, strict=True)) for combo in itertools.product(*choices)]


@dataclass(frozen=True)
class Visit:
    url: str
    route: Route
    garbage: bool


def list_queries(route: Route) -> list[str]:
    """The garbage query strings for an admin list (none for other pages)."""
    model_admin = _model_admin(route.callback)
    if model_admin is None or not (route.name or "").endswith("_changelist"):
        return []
    queries = [
        {f"{field.name}__gte": BAD_OFFSET}
        for field in model_admin.model._meta.fields
        if isinstance(field, models.DateTimeField)
    ][:1]
    if model_admin.model is Events:
        queries += HISTORY_QUERIES
    return ["?" + urlencode(query) for query in queries]


def _junk(route: Route, param: str) -> tuple:
    model_admin = _model_admin(route.callback)
    if param == "object_id" and model_admin is not None and model_admin.model is Events:
        return GARBAGE + EVENT_GARBAGE
    return GARBAGE


def crawl_plan(world: World):
    """Every URL to visit, and the problems found building the list."""
    visits, problems, seen = [], [], set()

    def add(url, route, garbage):
        if url not in seen:
            seen.add(url)
            visits.append(Visit(url, route, garbage))

    for route in url_routes():
        try:
            combos = real_kwargs(route, world)
            urls = [route.url(kwargs) for kwargs in combos]
            for param in route.params:
                for junk in _junk(route, param):
                    add(route.url({**combos[0], param: junk}), route, True)
            for query in list_queries(route):
                add(route.url(combos[0]) + query, route, True)
        except Unfillable as why:
            problems.append(f"cannot fill {route.route!r} ({route.name}): {why}")
            continue
        for url in urls:
            problem = _reach_problem(route, url)
            if problem:
                problems.append(problem)
            add(url, route, False)
    return visits, problems


def _reach_problem(route: Route, url: str) -> str | None:
    """Why a URL filled for a route does not reach it as it should, or None."""
    try:
        match = resolve(url)
    except Resolver404:
        match = None
    reached = match is not None and (match.route, match.func) == (route.route, route.callback)
    if route.name in SHADOWED:
        return f"{route.name} is listed as shadowed but answers {url}" if reached else None
    if not reached:
        return f"{url}, filled for {route.route!r}, reaches another pattern"
    return None


# --- what every answer must keep ------------------------------------------------------


def _fingerprint() -> dict:
    """Row count and a digest of every row, per table of the public schema."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = sorted(row[0] for row in cursor.fetchall())
        query = " UNION ALL ".join(
            f"SELECT %s, count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) "  # noqa: S608
            f"FROM {connection.ops.quote_name(table)} t"
            for table in tables
        )
        cursor.execute(query, tables)
        return {name: (count, digest) for name, count, digest in cursor.fetchall()}


def _login(client):
    """The user id the client's session is logged in as, read without writing."""
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    if cookie is None or not cookie.value:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(cookie.value)
    return store.get(SESSION_KEY)


def _directives(policy: str) -> dict[str, list[str]]:
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def header_problems(response) -> list[str]:
    problems = []
    headers = response.headers
    policy = headers.get("Content-Security-Policy")
    directives = _directives(policy) if policy else {}
    if policy is None:
        problems.append("no Content-Security-Policy")
    else:
        if "'self'" not in directives.get("default-src", []):
            problems.append(f"CSP without default-src 'self': {policy}")
        scripts = directives.get("script-src", directives.get("default-src", []))
        unsafe = {"'unsafe-inline'", "'unsafe-eval'"} & set(scripts)
        if unsafe:
            problems.append(f"CSP script-src allows {sorted(unsafe)}")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if not headers.get("Referrer-Policy"):
        problems.append("no Referrer-Policy")
    if not headers.get("Cross-Origin-Opener-Policy"):
        problems.append("no Cross-Origin-Opener-Policy")
    framing = headers.get("X-Frame-Options", "").upper() in ("DENY", "SAMEORIGIN")
    if not framing and "frame-ancestors" not in directives:
        problems.append("neither X-Frame-Options nor CSP frame-ancestors")
    hsts = headers.get("Strict-Transport-Security", "")
    if "max-age=31536000" not in hsts or "includesubdomains" not in hsts.lower():
        problems.append(f"Strict-Transport-Security is {hsts!r}")
    return problems


def cookie_problems(response) -> list[str]:
    problems = []
    for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
        morsel = response.cookies.get(name)
        # A deletion (empty value, expired) carries nothing to protect.
        if morsel is None or not morsel.value:
            continue
        if not morsel["secure"]:
            problems.append(f"cookie {name} without Secure")
        if name == settings.SESSION_COOKIE_NAME and not morsel["httponly"]:
            problems.append(f"cookie {name} without HttpOnly")
    return problems


def _send(client, method, url):
    """One request in a savepoint: a view that breaks the transaction is reported as a
    server error without spoiling the rest of the crawl."""
    try:
        with transaction.atomic():
            return getattr(client, method.lower())(url, secure=True), None
    except Exception as error:  # the test client re-raises what a view raised
        return None, f"{type(error).__name__}: {error}"


def _client(world, role):
    user = world.users[role]
    # CSRF enforced as in a browser; the empty POSTs carry no token.
    return (
        Client(enforce_csrf_checks=True)
        if user is None
        else logged_in(user, enforce_csrf_checks=True)
    )


@pytest.mark.django_db
def test_it_fills_every_url_pattern_with_real_values(world):
    visits, problems = crawl_plan(world)
    assert problems == [], "\n".join(problems)
    crawled = {visit.url for visit in visits}
    member = Member.objects.get(user=world.users["member"])
    # The walk reaches the includes, not only the top level.
    for expected in (
        "/healthz",
        "/dashboard/storage/",
        "/accounts/logout/",
        f"/admin/members/member/{member.pk}/change/",
        f"/admin/members/member/{member.pk}/history/",
        f"/admin/members/user/{member.user_id}/password/",
        "/admin/members/",
        "/billing/stripe/webhook/",
        # The shapes staff once got a 500 for.
        "/admin/members/member/?date_added__gte=0001-01-01T00%3A00%3A00%2B23%3A59",
        "/admin/pghistory/events/?pgh_created_at__gte=0001-01-01T00%3A00%3A00%2B23%3A59",
        "/admin/pghistory/events/?obj=members.Member%3Aabc",
        "/admin/pghistory/events/?obj=members.Member%3A1%3A2",
        "/admin/pghistory/events/auth.Permission_3A1/change/",
        f"/admin/r/{ContentType.objects.get_for_model(Events).pk}/1/",
        f"/admin/r/{ContentType.objects.get_for_model(Events).pk}/no-such-thing/",
    ):
        assert expected in crawled


@pytest.mark.django_db
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("role", ROLES)
def test_it_answers_every_url_safely(https, world, role, method):
    visits, plan_problems = crawl_plan(world)
    assert plan_problems == []
    client = _client(world, role)
    problems, cookies_checked = [], set()
    before = _fingerprint()
    for visit in visits:
        login = _login(client)
        response, error = _send(client, method, visit.url)
        where = f"{method} {visit.url} as {role}"
        after = _fingerprint()
        if error is not None:
            problems.append(f"{where}: raised {error}")
        elif response.status_code >= 500:
            problems.append(f"{where}: status {response.status_code}")
        if response is not None:
            problems += [f"{where}: {p}" for p in header_problems(response)]
            problems += [f"{where}: {p}" for p in cookie_problems(response)]
            cookies_checked |= set(response.cookies)
        changed = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))
        allowed = (
            {"django_session"}
            if method != "POST" and visit.route.name in SESSION_WRITING_GETS
            else set()
        )
        if set(changed) - allowed:
            problems.append(f"{where}: changed tables {changed}")
        if _login(client) != login:
            problems.append(f"{where}: logged in as {login!r} before, {_login(client)!r} after")
            # Carry on as the role, so one lost login does not hide the rest.
            client = _client(world, role)
            after = _fingerprint()
        before = after
    assert problems == [], "\n".join(problems)
    assert len(visits) > 100
    if method == "GET":
        # Pages with forms set the CSRF cookie, so the cookie check above had work.
        assert settings.CSRF_COOKIE_NAME in cookies_checked


def test_it_reports_each_missing_header_and_unsafe_cookie():
    bare = HttpResponse()
    bare.set_cookie(settings.SESSION_COOKIE_NAME, "abc")
    assert len(header_problems(bare)) == 6
    assert len(cookie_problems(bare)) == 2
    inline = HttpResponse(
        headers={"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'"}
    )
    assert "CSP script-src allows [\"'unsafe-inline'\"]" in header_problems(inline)


@pytest.mark.django_db
def test_it_redirects_plain_http_to_https_except_the_health_check(https, client):
    page = client.get("/dashboard/")
    assert page.status_code == 301
    assert page["Location"] == "https://testserver/dashboard/"
    assert "default-src 'self'" in page["Content-Security-Policy"]
    assert page["X-Content-Type-Options"] == "nosniff"
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    # Behind the TLS-terminating proxy, its header says the request was https.
    proxied = client.get("/", headers={"x-forwarded-proto": "https"})
    assert proxied.status_code == 200


@pytest.mark.django_db
def test_it_sets_a_secure_httponly_session_cookie_at_login(https):
    member = MemberFactory()
    client = Client()
    client.get("/accounts/login/", secure=True)
    response = client.post(
        "/accounts/login/",
        {"login": member.email, "password": DEFAULT_PASSWORD},
        secure=True,
    )
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session.value
    assert session["secure"]
    assert session["httponly"]
    assert _login(client) == str(member.user.pk)
    assert cookie_problems(response) == []


# The cases the crawl found, one test each, so a fix can be checked on its own.


@pytest.mark.django_db
def test_it_keeps_the_login_when_another_accounts_reset_link_is_opened(https, world):
    # allauth's reset view logs out whoever is signed in as someone else on the GET of
    # the set-password step: a link can sign a member out without any POST.
    client = _client(world, "member")
    login = _login(client)
    uid = user_pk_to_url_str(world.stranger.user)
    key = default_token_generator.make_token(world.stranger.user)
    client.get(f"/accounts/password/reset/key/{uid}-{key}/", secure=True)
    client.get(f"/accounts/password/reset/key/{uid}-set-password/", secure=True)
    assert _login(client) == login


@pytest.mark.django_db
def test_it_keeps_the_login_when_another_accounts_confirmation_link_is_opened(https, world):
    # allauth's confirm-email view logs out a different signed-in user on GET.
    client = _client(world, "member")
    login = _login(client)
    client.get(f"/accounts/confirm-email/{world.values['key'][-1]}/", secure=True)
    assert _login(client) == login


@pytest.mark.django_db
def test_it_answers_a_nul_in_an_event_id_without_a_server_error(https, world):
    # pghistory's event admin looks a text primary key up as given; PostgreSQL refuses
    # a NUL in text, so the lookup raises instead of finding nothing.
    response, error = _send(_client(world, "staff"), "GET", "/admin/pghistory/events/%00/change/")
    assert error is None
    assert response.status_code < 500
