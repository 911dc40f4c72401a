"""Request routes with their tokens elided, for everything that keeps a URL: the audit
history (members.audit.HistoryMiddleware), the server's access log
(dhportal.accesslog.Logger), Django's own log lines (ElideTokensFilter, in LOGGING) and
the migration that scrubs old history rows.

A signup continue link is kept as `/signup/continue/…/`, a password-reset link as
`/accounts/password/reset/key/…/`. Which parts are tokens is decided by the URL pattern
the path resolves to: any captured argument named in TOKEN_KWARGS, so a new route with
a `<token>` (or `<key>`) argument is elided without touching this module. A path that
resolves to nothing is kept as it is (no route of ours carries a token there).

Imports only django.urls, lazily usable: gunicorn imports the access logger in its
master process, before Django is set up.
"""

import logging
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ELLIPSIS = "…"

# Names of URL arguments that hold a secret or a link's capability. `uidb36` is the
# user half of allauth's reset link: elided with its key, so the link stays whole.
TOKEN_KWARGS = frozenset({"token", "key", "uidb36"})

# Parts of a query parameter's name that mark its value as a secret.
_SECRET_MARKS = ("token", "secret", "password", "passwd", "key", "signature")

# What a path keeps unescaped when it is written back into a log line (RFC 3986 pchar).
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def elide_tokens(path: str) -> str:
    """`path` (decoded, as Django's request.path_info) with every token argument of the
    route it resolves to replaced by "…"; unchanged when it carries none."""
    pieces = _split(path)
    return path if pieces is None else ELLIPSIS.join(pieces)


def elide_url(url: str) -> str:
    """A raw (percent-encoded) URL or request target, absolute or a bare path, with the
    tokens of its path and the values of its token-like query parameters elided; its
    host and other parameters are kept as they are."""
    if not url or url == "-":
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    query = elide_query(parts.query)
    pieces = _split(unquote(parts.path))
    if pieces is None:
        return url if query == parts.query else urlunsplit(parts._replace(query=query))
    path = ELLIPSIS.join(quote(piece, safe=_PATH_SAFE) for piece in pieces)
    return urlunsplit(parts._replace(path=path, query=query))


def elide_query(query: str) -> str:
    """A raw query string with the value of every token-like parameter ("token", "key",
    "code", "...secret", "...password", "access_token"...) replaced by "…". No route of
    ours reads a secret from the query string, but a client may still send one there (an
    old page, a hand-made link): the log never keeps it."""
    if not query:
        return query
    fields = []
    for field in query.split("&"):
        name, sep, value = field.partition("=")
        if sep and value and _secret_name(unquote(name.replace("+", " "))):
            field = f"{name}={ELLIPSIS}"
        fields.append(field)
    return "&".join(fields)


def _secret_name(name: str) -> bool:
    name = name.strip().lower()
    return name in TOKEN_KWARGS or name == "code" or any(m in name for m in _SECRET_MARKS)


class ElideTokensFilter(logging.Filter):
    """A logging filter (settings.LOGGING) for Django's own request lines, which name the
    path: "Service Unavailable: /signup/continue/<token>/", "Forbidden (CSRF cookie not
    set.): ...". Any argument that is a path is elided; the record is always kept."""

    def filter(self, record):
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                elide_tokens(arg) if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


def _split(path: str) -> list[str] | None:
    """The parts of `path` around its token spans, or None when it holds no token."""
    try:
        spans = _resolve_spans(path)
        if spans is None and path.startswith("/") and not path.endswith("/"):
            # A link cut short of its last slash is redirected (APPEND_SLASH): the
            # redirect's own log line carries the token too.
            spans = _resolve_spans(path + "/")
            if spans is not None:
                spans = [(start, min(end, len(path))) for start, end in spans]
    except Exception:
        # Should the resolver itself fail (Django not set up), keep nothing of the path
        # rather than risk keeping a token.
        return ["/", ""]
    if not spans:
        return None
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        # Token arguments with only a short separator between them, such as the reset
        # link's `<uidb36>-<key>`, are one link: one ellipsis.
        if merged and "/" not in path[merged[-1][1] : start]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, last = [], 0
    for start, end in merged:
        pieces.append(path[last:start])
        last = end
    pieces.append(path[last:])
    return pieces


def _resolve_spans(path: str) -> list[tuple[int, int]] | None:
    """Walk the URLconf as Django's resolver does (first match wins); the (start, end)
    of each token argument of the matching route, or None when nothing matches."""
    from django.urls import get_resolver, get_urlconf

    return _resolver_spans(get_resolver(get_urlconf()), path)


def _resolver_spans(resolver, path):
    from django.urls import URLResolver

    matched = resolver.pattern.match(path)
    if not matched:
        return None
    rest = matched[0]
    offset = len(path) - len(rest)
    own = _pattern_spans(resolver.pattern, path, offset)
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = _resolver_spans(entry, rest)
        else:
            sub = entry.pattern.match(rest)
            inner = (
                None if not sub else _pattern_spans(entry.pattern, rest, len(rest) - len(sub[0]))
            )
        if inner is not None:
            return own + [(start + offset, end + offset) for start, end in inner]
    return None


def _pattern_spans(pattern, path, consumed):
    """Token spans of one pattern that matched `consumed` characters of `path`: its
    regex again (Django's patterns, route or regex, all compile to one), whichever of
    search and fullmatch gives that same match."""
    regex = getattr(pattern, "regex", None)
    if regex is None:
        return []
    for found in (regex.search(path), regex.fullmatch(path)):
        if found and found.end() == consumed:
            return [
                found.span(name)
                for name in found.groupdict()
                if name in TOKEN_KWARGS and found.group(name) is not None
            ]
    return []
