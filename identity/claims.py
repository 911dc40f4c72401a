"""The claims the provider gives about a member, by scope (README, "Log in to other
systems with the portal"). `sub` and the `email` scope are allauth's own: `sub` is the
login's id (never reused, unchanged by an email or username change, and kept by the
login a merge keeps); `email` is the login's primary address."""

from __future__ import annotations

from members import shapes
from members.models import Member

MEMBERSHIP_SCOPE = "membership"
PROFILE_SCOPE = "profile"

# What discovery lists: the ID token's own claims, then each scope's.
CLAIMS_SUPPORTED = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "member_number",
    "membership_status",
    "groups",
)


def groups(member: Member) -> list[str]:
    """The member's live authorization names, physical and computer, each once, in the
    order the column lists them (text elements only, as identity/sql.py reads them)."""
    raw = member.authorizations if isinstance(member.authorizations, dict) else {}
    names: list[str] = []
    for key in shapes.keys("authorizations"):
        listed = raw.get(key)
        for name in listed if isinstance(listed, list) else ():
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def profile_claims(member: Member) -> dict:
    """name, given_name, family_name and preferred_username (the member's username,
    never the login's placeholder name); blank ones are left out."""
    identity = member.read("identity")
    first = (identity.first_name or "") if identity is not None else ""
    last = (identity.last_name or "") if identity is not None else ""
    claims = {
        "name": member.full_name,
        "given_name": first.strip(),
        "family_name": last.strip(),
        "preferred_username": member.username,
    }
    return {key: value for key, value in claims.items() if value}


def membership_claims(member: Member) -> dict:
    status = member.membership_status
    return {
        "member_number": member.pk,
        "membership_status": status.value if status is not None else None,
        "groups": groups(member),
    }


def member_claims(member: Member | None, scopes) -> dict:
    """The claims `scopes` grant about `member`, beyond allauth's `sub` and `email`."""
    if member is None:
        return {}
    claims: dict = {}
    if PROFILE_SCOPE in scopes:
        claims.update(profile_claims(member))
    if MEMBERSHIP_SCOPE in scopes:
        claims.update(membership_claims(member))
    return claims
