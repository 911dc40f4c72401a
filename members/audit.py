"""Audit sources: every write to a member is recorded by django-pghistory's triggers;
this labels the writes with where they came from."""

import pghistory
import pghistory.middleware

from dhportal.routes import elide_tokens

SOURCES = (
    "signup",
    "member",
    "staff",
    "webhook",
    "repair",
    "command",
    "import",
    "merge",
    "reconcile",
    "erasure",
)


def audit(source: str, user=None):
    """Context manager: writes inside it are recorded with this source and user."""
    if source not in SOURCES:
        raise ValueError(f"unknown audit source {source!r}")
    metadata = {"source": source}
    if user is not None and getattr(user, "pk", None):
        metadata["user"] = user.pk
    return pghistory.context(**metadata)


class HistoryMiddleware(pghistory.middleware.HistoryMiddleware):
    """pghistory's request context (user and URL) with the route's tokens elided: the
    history keeps `/signup/continue/…/`, never a link that still works (docs/shapes.md)."""

    def get_context(self, request):
        context = super().get_context(request)
        # request.path is SCRIPT_NAME + path_info; the URLconf only knows path_info.
        prefix = request.path[: len(request.path) - len(request.path_info)]
        context["url"] = prefix + elide_tokens(request.path_info)
        return context
