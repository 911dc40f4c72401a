"""gunicorn's logger with tokens elided from the access log (gunicorn.conf.py names it).

A continue or password-reset link is a working credential until it is used; the access
log keeps it as `/signup/continue/…/`, the same rule as the audit history
(dhportal/routes.py). Covered: the request line (%(r)s), the path (%(U)s), the referer
(%(f)s: a page opened from a continue link names it in every request it makes) and the
same values reached as headers or environ entries.
"""

from gunicorn.glogging import Logger as GunicornLogger

from dhportal.routes import elide_tokens, elide_url

# Atoms holding a raw URL or request target (a redirect's Location too: a link cut short
# of its slash is redirected to itself with one), and atoms holding a decoded path.
_URL_ATOMS = ("f", "{referer}i", "{http_referer}e", "{raw_uri}e", "{location}o")
_PATH_ATOMS = ("U", "{path_info}e")


class Logger(GunicornLogger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        method, protocol = environ.get("REQUEST_METHOD", "-"), environ.get("SERVER_PROTOCOL", "-")
        atoms["r"] = f"{method} {elide_url(environ.get('RAW_URI', ''))} {protocol}"
        for key in _URL_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = elide_url(atoms[key])
        for key in _PATH_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = elide_tokens(_wsgi_to_text(atoms[key]))
        return atoms


def _wsgi_to_text(value: str) -> str:
    # WSGI strings carry bytes as latin-1; Django reads the path as UTF-8.
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value
