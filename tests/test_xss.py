"""XSS sweep: classic script-injection vectors stored in every text a member record can
hold, written straight to the database as a legacy or damaged row would hold them
(no form validation in the way). Every member page and every staff page about the
member must show them as text: never the vector itself, always its escaped form where
the field is displayed."""

import html
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlencode

import pytest
from allauth.account.models import EmailAddress
from django.utils.html import escape
from pghistory.models import Events

from members import scaffolding
from members.models import Member, User
from tests.factories import MemberFactory, StaffFactory, StripeEventFactory, SubscriptionFactory

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Vector:
    text: str
    # What must never reach a page, besides the text itself when escaping changes it:
    # the form a page would produce by decoding the text instead of escaping it.
    decoded: tuple[str, ...] = ()
    # Patterns for a vector that is only dangerous in one context (a link target).
    patterns: tuple[str, ...] = ()

    def value(self, path: str) -> str:
        # The field's path rides along (as a JS comment where the vector is script), so a
        # page showing the escaped value proves it shows that very field.
        return f"{self.text}//{path}"

    def dangers(self) -> list[str]:
        found = [self.text] if escape(self.text) != self.text else []
        return found + list(self.decoded)


URL_ATTRIBUTE = r"""\b(?:href|src|action|formaction|xlink:href|data)\s*=\s*["']?\s*"""

VECTORS = [
    Vector("<script>alert(1)</script>"),
    Vector('"><img src=x onerror=alert(2)>'),
    Vector("'><svg onload=alert(3)>"),
    Vector("javascript:alert(4)", patterns=(URL_ATTRIBUTE + r"javascript:alert\(4\)",)),
    Vector("</textarea><script>alert(5)</script>"),
    # Template syntax: shown as typed, never evaluated on the server.
    Vector("{{7*7}}{% debug %}<b>ssti(6)</b>"),
    Vector('<iframe srcdoc="&lt;script&gt;alert(7)&lt;/script&gt;"></iframe>'),
    Vector('" onmouseover="alert(8)" x="'),
    Vector("' onfocus='alert(9)' autofocus x='"),
    Vector("`\"'><script>alert(10)</script>"),
    Vector("</script><script>alert(11)</script>"),
    Vector(
        r"\u003cscript\u003ealert(12)\u003c/script\u003e",
        decoded=("<script>alert(12)</script>",),
    ),
    Vector(
        "\uff1cscript\uff1ealert(13)\uff1c/script\uff1e",
        decoded=(unicodedata.normalize("NFKC", "\uff1cscript\uff1ealert(13)\uff1c/script\uff1e"),),
    ),
    Vector("<ScRiPt>alert(14)</sCrIpT>"),
    Vector(
        "%3Cscript%3Ealert(15)%3C%2Fscript%3E",
        decoded=(unquote("%3Cscript%3Ealert(15)%3C%2Fscript%3E"),),
    ),
    Vector(
        "&lt;script&gt;alert(16)&lt;/script&gt;",
        decoded=(html.unescape("&lt;script&gt;alert(16)&lt;/script&gt;"),),
    ),
    Vector("<math><mtext><table><mglyph><style><img src=x onerror=alert(17)>"),
    Vector('<a href="javascript:alert(18)">x</a>'),
]
IDS = [f"v{i + 1}" for i in range(len(VECTORS))]

# Items of the list-valued keys of the column shapes, by path. The RFID tag list stays
# empty: the database refuses anything but ten digits there (rfid_tag_ten_digits).
LIST_ITEMS = {
    "identity.emails": {"type": "", "email_address": ""},
    "notes": {"note": "", "from": "", "timestamp": ""},
    "authorizations.authorizations": "",
    "authorizations.computer_authorizations": "",
    "access.rfid_tags": None,
}
# A legacy row may hold keys outside the shape; the admin keeps and shows them.
EXTRA_KEYS = {"access": {"legacy_badge": ""}}


def _filled(shape, path, vector, values):
    """The shape with a vector in every leaf, recording each leaf's value by path."""
    if isinstance(shape, dict):
        return {key: _filled(item, f"{path}.{key}", vector, values) for key, item in shape.items()}
    if isinstance(shape, list):
        item = LIST_ITEMS[path]  # a new list-valued key must be added to LIST_ITEMS
        return [] if item is None else [_filled(item, f"{path}.0", vector, values)]
    values[path] = vector.value(path)
    return values[path]


def record(vector):
    """The JSON columns with a vector in every key, booleans and numbers included (a
    damaged row holds anything), and every string stored for the member by path."""
    values = {}
    columns = {}
    for column in ("identity", *scaffolding.NULLABLE_COLUMNS):
        shape = scaffolding.default(column)
        if isinstance(shape, dict):
            shape = {**shape, **EXTRA_KEYS.get(column, {})}
        columns[column] = _filled(shape, column, vector, values)
    # The username column holds 16 characters and billing_ref 64: as much as fits.
    values["member.username"] = vector.text[:16]
    values["member.billing_ref"] = vector.text[:64]
    for path in ("member.email", "user.first_name", "user.last_name", "user.username"):
        values[path] = vector.value(path)
    values["user.email"] = values["address.email"] = vector.value("user.email")
    return columns, values


@dataclass
class Stored:
    member: Member
    values: dict  # path -> the exact string stored there
    vector: Vector


def store(vector) -> Stored:
    member = MemberFactory()
    columns, values = record(vector)
    Member.objects.filter(pk=member.pk).update(
        email=values["member.email"],
        username=values["member.username"],
        billing_ref=values["member.billing_ref"],
        **columns,
    )
    User.objects.filter(pk=member.user_id).update(
        first_name=values["user.first_name"],
        last_name=values["user.last_name"],
        username=values["user.username"],
        email=values["user.email"],
    )
    EmailAddress.objects.filter(user_id=member.user_id).update(email=values["address.email"])
    member.refresh_from_db()
    return Stored(member, values, vector)


def _shown(value: str, encoding: str) -> str:
    """How a page writes a stored string: as HTML text, inside JSON (the admin's JSON
    columns and history), or lower-cased (membership status)."""
    if encoding == "json":
        value = json.dumps(value, ensure_ascii=False)[1:-1]
    elif encoding == "lower":
        value = value.strip().lower()
    return escape(value)


def page_problems(response, stored: Stored, shows=()) -> list[str]:
    where = response.request["PATH_INFO"]
    problems = []
    if response.status_code >= 400 and shows:
        problems.append(f"{where}: status {response.status_code}")
    return problems + body_problems(where, response.content.decode(), stored, shows)


def body_problems(where, body, stored: Stored, shows=()) -> list[str]:
    """Every way the page shows a vector unescaped, and every field it should show but
    does not show escaped."""
    problems = []
    lowered = body.lower()
    dangers = stored.vector.dangers() + [
        stored.values[path]
        for path in ("member.username", "member.billing_ref")
        if escape(stored.values[path]) != stored.values[path]
    ]
    for danger in dangers:
        if danger.lower() in lowered:
            at = lowered.index(danger.lower())
            problems.append(f"{where}: unescaped {danger!r} in ...{body[at - 80 : at + 80]!r}")
    for pattern in stored.vector.patterns:
        if re.search(pattern, body, re.IGNORECASE):
            problems.append(f"{where}: {pattern!r} matches")
    for show in shows:
        if isinstance(show, str):
            if show not in body:
                problems.append(f"{where}: {show!r} not in the page")
        elif _shown(stored.values[show[0]], show[1]) not in body:
            problems.append(f"{where}: {show[0]} not shown escaped ({show[1]})")
    return problems


# --- the member's own pages ------------------------------------------------------------

MEMBER_PAGES = {
    "/dashboard/": [
        ("identity.nickname", "html"),  # the greeting: the preferred name
        ("status.membership_level", "html"),
    ],
    "/dashboard/profile/": [
        ("member.email", "html"),
        ("member.username", "html"),
        ("identity.first_name", "html"),
        ("identity.last_name", "html"),
        ("identity.nickname", "html"),
        ("identity.pronouns", "html"),
        ("connections.discord_username", "html"),
    ],
    "/dashboard/keys/": [],
    "/dashboard/auths/": [
        ("authorizations.authorizations.0", "html"),
        ("authorizations.computer_authorizations.0", "html"),
    ],
    "/dashboard/storage/": [
        ("extras.storage_id", "html"),
        ("extras.storage_area", "html"),
        ("forms.id_check_1", "html"),
        ("forms.id_check_2", "html"),
    ],
    "/dashboard/floof/": [
        ("identity.nametag_subtitle", "html"),
        ("identity.theme_song_url", "html"),
        ("identity.theme_song_duration", "html"),
    ],
    "/dashboard/account/": [("member.email", "html")],
    "/dashboard/locked/": [],
}


@pytest.mark.django_db
@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_it_escapes_every_vector_on_the_member_pages(vector, client):
    stored = store(vector)
    client.force_login(stored.member.user)
    problems = []
    for url, shows in MEMBER_PAGES.items():
        response = client.get(url, follow=True)
        problems += page_problems(response, stored, shows)
    assert problems == [], "\n".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_it_escapes_every_vector_on_the_payment_page(vector, client, settings):
    stored = store(vector)
    # The page shows the email (and the pricing table) only to pending or lapsed members.
    status = {**stored.member.status, "membership_status": "pending"}
    Member.objects.filter(pk=stored.member.pk).update(status=status)
    client.force_login(stored.member.user)
    problems = page_problems(client.get("/signup/payment/"), stored, [("member.email", "html")])
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_xss"
    settings.STRIPE_PRICING_TABLE_ID = "prctbl_xss"
    response = client.get("/signup/payment/")
    assert "<stripe-pricing-table" in response.content.decode()
    problems += page_problems(
        response, stored, [("member.email", "html"), ("member.billing_ref", "html")]
    )
    assert problems == [], "\n".join(problems)


# --- staff pages about the member ----------------------------------------------------

MEMBER_NAME = [("identity.first_name", "html"), ("identity.last_name", "html")]
EVERY_JSON_STRING = object()  # every stored path of a JSON column, as JSON
EVERY_JSON_STRING_AS_TEXT = object()  # the same, written as text (the history)


def _json_paths(stored, encoding="json"):
    columns = ("identity", *scaffolding.NULLABLE_COLUMNS)
    return [(p, encoding) for p in stored.values if p.split(".")[0] in columns]


def admin_pages(stored):
    """(method, url, data, what the page shows) for every staff page about the member."""
    member, user_id = stored.member, stored.member.user_id
    event = StripeEventFactory(member=member, email=stored.values["member.email"])
    subscription = SubscriptionFactory(member=member)
    update = Events.objects.filter(
        pgh_obj_model="members.Member", pgh_obj_id=str(member.pk), pgh_label="update"
    ).latest("pgh_id")
    address = EmailAddress.objects.get(user_id=user_id)
    member_list = [
        *MEMBER_NAME,
        ("member.email", "html"),
        ("member.username", "html"),
        ("status.membership_status", "lower"),
    ]
    return [
        ("get", "/admin/members/member/", None, member_list),
        (
            "get",
            "/admin/members/member/?" + urlencode({"q": stored.vector.text}),
            None,
            # The search box shows what was searched for.
            [f'name="q" value="{escape(stored.vector.text)}"'],
        ),
        (
            "get",
            f"/admin/members/member/{member.pk}/change/",
            None,
            # The structured fields show text as text; a value of the wrong type (here
            # every boolean, number and date) is shown as the JSON it is stored as.
            [
                *MEMBER_NAME,
                ("member.email", "html"),
                ("member.username", "html"),
                ("member.billing_ref", "html"),
                ("identity.nickname", "html"),
                ("status.membership_level", "html"),
                ("status.waiver_signed", "json"),
                ("access.legacy_badge", "json"),
                ("notes.0.note", "html"),
                ("notes.0.from", "html"),
            ],
        ),
        (
            "get",
            f"/admin/members/member/{member.pk}/change/?advanced=1",
            None,
            [*MEMBER_NAME, ("member.email", "html"), EVERY_JSON_STRING],
        ),
        (
            "get",
            f"/admin/members/member/{member.pk}/history/",
            None,
            [
                ("identity.first_name", "html"),
                ("member.email", "html"),
                ("member.username", "html"),
                EVERY_JSON_STRING_AS_TEXT,
            ],
        ),
        (
            "post",
            "/admin/members/member/",
            {"action": "activate_members", "_selected_action": [member.pk]},
            [*MEMBER_NAME, ("status.membership_status", "lower")],
        ),
        # Members are never deleted, so this page refuses (403); it must not echo data.
        ("get", f"/admin/members/member/{member.pk}/delete/", None, []),
        (
            "get",
            "/admin/members/user/",
            None,
            [(f"user.{f}", "html") for f in ("username", "email", "first_name", "last_name")],
        ),
        (
            "get",
            f"/admin/members/user/{user_id}/change/",
            None,
            [(f"user.{f}", "html") for f in ("username", "email", "first_name", "last_name")],
        ),
        ("get", f"/admin/members/user/{user_id}/history/", None, [("user.username", "html")]),
        ("get", f"/admin/members/user/{user_id}/password/", None, [("user.username", "html")]),
        (
            "get",
            f"/admin/members/user/{user_id}/delete/",
            None,
            # The member is kept (its user link is set to NULL), so it is not listed.
            [("user.username", "html"), ("address.email", "html")],
        ),
        ("get", "/admin/account/emailaddress/", None, [("address.email", "html")]),
        (
            "get",
            f"/admin/account/emailaddress/{address.pk}/change/",
            None,
            [("address.email", "html")],
        ),
        ("get", "/admin/billing/stripeevent/", None, MEMBER_NAME),
        (
            "get",
            f"/admin/billing/stripeevent/{event.pk}/change/",
            None,
            [*MEMBER_NAME, ("member.email", "html")],
        ),
        ("get", "/admin/billing/subscription/", None, MEMBER_NAME),
        ("get", f"/admin/billing/subscription/{subscription.pk}/change/", None, MEMBER_NAME),
        (
            "get",
            "/admin/pghistory/events/?"
            + urlencode({"obj": f"members.Member:{member.pk}", "method": "tracks"}),
            None,
            [("identity.first_name", "html")],
        ),
        (
            "get",
            f"/admin/pghistory/events/{update.pk}/change/",
            None,
            [("identity.first_name", "json"), ("member.email", "json")],
        ),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_it_escapes_every_vector_on_the_admin_pages(vector, client):
    stored = store(vector)
    client.force_login(StaffFactory())
    problems = []
    for method, url, data, shows in admin_pages(stored):
        expanded = []
        for show in shows:
            if show is EVERY_JSON_STRING:
                expanded += _json_paths(stored)
            elif show is EVERY_JSON_STRING_AS_TEXT:
                expanded += _json_paths(stored, "html")
            else:
                expanded.append(show)
        response = getattr(client, method)(url, data)
        problems += page_problems(response, stored, expanded)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_it_tells_an_escaped_page_from_one_that_is_not(vector):
    columns, values = record(vector)
    stored = Stored(member=None, values=values, vector=vector)
    shows = [("identity.first_name", "html")]
    raw = values["identity.first_name"]
    escaped = f'<p>{escape(raw)}</p><a href="/x">{escape(raw)}</a>'
    assert body_problems("/page/", escaped, stored, shows) == []
    # A template that left the value as it is (or decoded it first) gets reported.
    unescaped = f'<p>{raw}</p><a href="{raw}">x</a>{"".join(vector.decoded)}'
    assert body_problems("/page/", unescaped, stored, shows) != []


def test_it_covers_every_key_of_every_member_column():
    columns, values = record(VECTORS[0])
    for column in ("identity", *scaffolding.NULLABLE_COLUMNS):
        default = scaffolding.default(column)
        if isinstance(default, dict):
            assert set(default) <= set(columns[column]), column
    # Every string stored holds the vector (as much of it as the column takes).
    assert all(value.startswith(VECTORS[0].text[:16]) for value in values.values())
    assert len(values) > 30


# Ways to switch Django's escaping off. Member data reaches templates as plain strings,
# so none of these may appear in the project's code or HTML templates. (The plain-text
# mail templates turn autoescape off rightly: HTML entities would break their links.)
UNESCAPING = re.compile(
    r"\|\s*safe(seq)?\b|\bmark_safe\b|\bSafeString\b|\bSafeData\b|autoescape\s+off|\b__html__\b"
)


def test_it_marks_nothing_as_safe_html():
    sources = [
        path
        for folder in ("members", "dashboard", "signup", "billing", "dhportal", "templates")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".html")
    ]
    assert len(sources) > 30
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if UNESCAPING.search(line)
    ]
    assert found == []
