"""What the fuzz tests share: how many examples each endpoint gets, the clean state
every example starts from, and strategies for what a browser or a script can send.

An endpoint passes when no example gets a 5xx (or raises: the test client re-raises
an exception a view lets escape) and every write is all or nothing; each test states
what "all" is for its endpoint.
"""

import contextlib
import datetime
import json
import re
import string
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 200

# No example database: failures print their reproduction, and nothing is written to
# the working tree.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


class _Undo(Exception):
    pass


@contextlib.contextmanager
def clean_state():
    """Each example runs in a savepoint that is rolled back, so it sees the test's own
    rows and nothing an earlier example wrote; rate limits and mail start empty too."""
    cache.clear()
    mail.outbox = []
    try:
        with transaction.atomic():
            yield
            raise _Undo
    except _Undo:
        pass


def run(strategy, check, *, explicit=()):
    """Call `check` on the explicit values, then on EXAMPLES generated ones, each in a
    clean state. Fails if hypothesis ran fewer than EXAMPLES, so a strategy that runs
    dry cannot quietly shrink the suite."""
    ran = 0

    def one(value):
        nonlocal ran
        ran += 1
        with clean_state():
            check(value)

    for value in explicit:
        one(value)
    FUZZ(given(strategy)(one))()
    assert ran >= EXAMPLES + len(explicit)


def fresh(client):
    """The client as a new visitor: no cookies. Reusing one client matters, since each
    new one builds its middleware (whitenoise scans the static files) on first use."""
    client.cookies.clear()
    return client


def assert_not_5xx(response):
    assert response.status_code < 500, (response.status_code, response.content[:500])


# --- text -----------------------------------------------------------------------

MEGABYTE = 2**20

# Lone surrogates are left out: they cannot be encoded as UTF-8, so no client can
# send one as text (they arrive as invalid bytes, which `junk_bytes` covers).
unicode_text = st.text(max_size=40)
with_nul = st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=12), st.text(max_size=12))


class Huge(str):
    """A megabyte (or so) of one short chunk repeated. It remembers the chunk, so that
    percent-encoding it costs a chunk's work instead of a megabyte's."""

    chunk: str

    def __new__(cls, chunk: str, extra: int):
        size = MEGABYTE + extra
        text = super().__new__(cls, (chunk * (size // len(chunk) + 1))[:size])
        text.chunk = chunk
        return text

    def quoted(self) -> str:
        whole, rest = divmod(len(self), len(self.chunk))
        return quote_plus(self.chunk) * whole + quote_plus(self.chunk[:rest])


# Multi-byte characters make several megabytes on the wire, beyond
# DATA_UPLOAD_MAX_MEMORY_SIZE, which is its own edge.
huge_text = st.builds(Huge, st.text(min_size=1, max_size=3), st.sampled_from([0, 1]))
SPECIAL = [
    "",
    " ",
    "\t\r\n",
    "\x00",
    "0",
    "-1",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    '{"a": [1, {"b": null}]}',
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "%ff%fe",
    "\u202eevil",
    "\ufeff",
    "\u0301\u0301\u0301",
    "😀" * 20,
    "é" * 300,
    "../../etc/passwd",
    "9" * 400,
    "x" * 17,
    "a@b",
    "@",
    "2000-02-30",
    "9999-12-31",
    "0000-00-00",
]
special_text = st.sampled_from(SPECIAL)
_small_nasty = st.one_of(unicode_text, with_nul, special_text)
# A megabyte costs real time to send and parse, so it is one draw in eight.
nasty_text = st.one_of(*[_small_nasty] * 7, huge_text)
# For URLs: a server refuses a request line much longer than a few kilobytes before
# the application sees it (gunicorn: 4094 bytes; test_raw_http checks that answer), so
# query values get long text rather than a megabyte.
long_text = st.builds(lambda c, n: c * n, st.sampled_from("aé😀%"), st.integers(1_000, 8_000))
query_text = st.one_of(*[_small_nasty] * 7, long_text)


# Datetimes as ISO text, as a filter or a form takes them: naive, UTC ("Z") or with any
# offset Python parses (below 24 h, to the microsecond), though PostgreSQL holds only
# whole seconds below 16 h; most offsets are whole minutes, as real zones are.
_DAY = datetime.timedelta(hours=24)
_offsets = st.one_of(
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: datetime.timedelta(minutes=m)),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: datetime.timedelta(minutes=m)),
    st.timedeltas(
        -_DAY + datetime.timedelta(microseconds=1), _DAY - datetime.timedelta(microseconds=1)
    ),
)
datetime_text = st.one_of(
    st.builds(
        lambda moment, offset, sep: moment.replace(tzinfo=datetime.timezone(offset)).isoformat(sep),
        st.datetimes(),
        _offsets,
        st.sampled_from("T "),
    ),
    st.datetimes().map(datetime.datetime.isoformat),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
)


def just_over(limit: int):
    """Text right at a length limit and just beyond it."""
    return st.builds(lambda n, c: c * n, st.integers(limit, limit + 2), st.sampled_from("aé9 "))


# What a script may send instead of text; the client sends str() of it.
wrong_type = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.booleans(),
)

# --- form bodies --------------------------------------------------------------------

FIELD_NAME = st.one_of(
    st.text(string.ascii_letters + "_-[]", min_size=1, max_size=12),
    st.text(max_size=12),
)


# How many fields an example breaks: mostly some, but none some of the time, so that
# whole, valid submits are part of every run.
MUTATIONS = st.sampled_from([0, 1, 1, 2, 2, 3, 3, 4, 6])


@st.composite
def form_data(draw, valid_fields: dict, *, base=None, extra_names=(), mutations=MUTATIONS):
    """A valid form (drawn from `base`, or field by field from `valid_fields`), then
    broken in a few places: fields dropped, replaced by nasty text or wrong types,
    repeated (a list: the client sends each item; empty means missing), or added."""
    # A copy: a base from st.just() is one dict, shared by every example.
    data = dict(draw(base if base is not None else st.fixed_dictionaries(valid_fields)))
    known = st.sampled_from([*valid_fields, *extra_names])
    names = st.one_of(known, known, known, FIELD_NAME)
    for _ in range(draw(mutations)):
        name = draw(names)
        how = draw(st.sampled_from(["drop", "nasty", "wrong", "repeat", "near"]))
        near = valid_fields.get(name, nasty_text)
        if how == "drop":
            data.pop(name, None)
        elif how == "nasty":
            data[name] = draw(nasty_text)
        elif how == "wrong":
            data[name] = draw(wrong_type)
        elif how == "repeat":
            data[name] = draw(st.lists(st.one_of(near, nasty_text), max_size=3))
        else:
            data[name] = draw(near)
    return data


def last(fields: dict, name: str):
    """The value a form reads for `name` (QueryDict.get: the last one sent), as text, or
    None when the field is missing."""
    value = fields.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    return None if value is None else str(value)


# --- request bodies -----------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    content_type: str
    data: bytes
    # The fields the server parses out of `data`, where that is certain; None for a
    # body whose fields depend on how a parser copes with damage.
    fields: dict | None = None

    def __repr__(self):
        head = self.data[:300]
        return f"Body({self.content_type!r}, {head!r}{'...' if len(self.data) > 300 else ''})"


FORM_CONTENT = "application/x-www-form-urlencoded"
latin1_text = st.text(st.characters(max_codepoint=255), max_size=60)
junk_bytes = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"\xff\xfe\xfd", b"%ff%fe=%c0%af", b"a=%zz&%=&&==", b"\x00=\x00", b"%"]),
)
CONTENT_TYPES = [
    FORM_CONTENT,
    FORM_CONTENT + "; charset=utf-8",
    FORM_CONTENT + "; charset=no-such-codec",
    FORM_CONTENT + "; charset=utf-16",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=" + "x" * 300,
    MULTIPART_CONTENT,
    "application/json",
    "text/plain",
    "application/octet-stream",
    "",
]
content_type = st.one_of(st.sampled_from(CONTENT_TYPES), latin1_text)


def _quoted(value) -> str:
    return value.quoted() if isinstance(value, Huge) else quote_plus(str(value))


def _urlencoded(data: dict) -> bytes:
    """urlencode(data, doseq=True), with a fast path for Huge values."""
    pairs = []
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append(f"{quote_plus(name)}={_quoted(item)}")
    return "&".join(pairs).encode()


def form_body(fields: dict) -> Body:
    """A plain urlencoded form, as a browser sends it."""
    return Body(FORM_CONTENT, _urlencoded(fields), fields)


def _multipart(data: dict) -> Body:
    encoded = encode_multipart(BOUNDARY, data)
    # The client writes names into the part headers unquoted, so only plain names
    # are certain to come back as sent.
    plain = all(re.fullmatch(r"[A-Za-z0-9_\-\[\]]+", name) for name in data)
    exact = plain and encoded.count(BOUNDARY.encode()) == 1 + sum(
        len(v) if isinstance(v, list) else 1 for v in data.values()
    )
    return Body(MULTIPART_CONTENT, encoded, data if exact else None)


def _corrupt(body: bytes, at: int, junk: bytes) -> bytes:
    at = at % (len(body) + 1)
    return body[:at] + junk + body[at:]


def well_formed(data_strategy):
    """Only the encodings a browser uses, for forms whose interesting answers need the
    fields to arrive intact."""
    return st.one_of(data_strategy.map(_multipart), data_strategy.map(form_body))


def body_for(data_strategy):
    """A Body for a form: mostly a well-formed encoding of the fuzzed fields, otherwise
    a wrong content type, invalid UTF-8 or percent escapes, JSON, a truncated or
    corrupted multipart body, or bytes that hold no form at all."""
    multipart = data_strategy.map(_multipart)
    urlencoded = data_strategy.map(form_body)
    return st.one_of(
        multipart,
        multipart,
        urlencoded,
        urlencoded,
        st.builds(
            lambda d, at, junk: Body(FORM_CONTENT, _corrupt(_urlencoded(d), at, junk)),
            data_strategy,
            st.integers(0, 10_000),
            junk_bytes,
        ),
        st.builds(
            lambda d, at: Body(MULTIPART_CONTENT, _multipart(d).data[:at]),
            data_strategy,
            st.integers(0, 2_000),
        ),
        st.builds(
            lambda d, at, junk: Body(MULTIPART_CONTENT, _corrupt(_multipart(d).data, at, junk)),
            data_strategy,
            st.integers(0, 2_000),
            junk_bytes,
        ),
        data_strategy.map(lambda d: Body("application/json", json.dumps(d).encode())),
        st.builds(lambda d, ct: Body(ct, _urlencoded(d)), data_strategy, content_type),
        st.builds(Body, content_type, junk_bytes),
    )


def post(client, path: str, body: Body, **extra):
    return client.generic("POST", path, data=body.data, content_type=body.content_type, **extra)


def path_segment(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


# Query strings exactly as sent (the client percent-encodes nothing in them).
raw_query = st.one_of(
    latin1_text,
    st.sampled_from(["%ff%fe", "a=%zz", "=&=&", "q=%00", "%", "a=1&a=2&a=3", "q=" + "%e9" * 50]),
)
