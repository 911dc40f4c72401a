"""Audit sources: every write to a member is recorded by django-pghistory's triggers;
this labels the writes with where they came from."""

import pghistory

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
