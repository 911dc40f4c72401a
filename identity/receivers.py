"""identity's answers to members' hooks (members/hooks.py, docs/hooks.md), connected in
IdentityConfig.ready().

- An export lists the login's authenticators (kind, added, last used; never a secret)
  and the clients it has authorized (those holding its live tokens).
- An erasure deletes the login's second factors and every token it holds.
- A merge moves nothing: second factors and tokens belong to a login, and the login a
  merge keeps keeps them; the revocation trigger (identity/sql.py) deletes the tokens
  of a login whose member no longer fits.
"""

from allauth.idp.oidc.models import Client, Token
from allauth.mfa.models import Authenticator
from django.db.models import Max, Min
from django.dispatch import receiver

from members import hooks
from members.privacy import export_value

# The token kinds that stand for a client's ongoing access (a code lives a minute).
_ACCESS = (Token.Type.ACCESS_TOKEN, Token.Type.REFRESH_TOKEN)

hooks.answers(
    Authenticator,
    merge="stays with its login: the login a merge keeps keeps it, the unused one it"
    " deletes goes with its own",
    erasure="deleted",
)
hooks.answers(
    Token,
    merge="stays with its login; the revocation trigger deletes those of a login whose"
    " member no longer fits the client's policy",
    erasure="deleted",
)
hooks.answers(
    Client,
    merge="kept: a client's owner is a staff login, which a merge never drops",
    erasure="kept: staff logins are never erased",
)


def _authenticators(user_id) -> list[dict]:
    return [
        {
            "type": row.type,
            "created_at": export_value(row.created_at),
            "last_used_at": export_value(row.last_used_at),
        }
        for row in Authenticator.objects.filter(user_id=user_id).order_by("created_at", "pk")
    ]


def _authorized_clients(user_id) -> list[dict]:
    tokens = (
        Token.objects.valid()
        .filter(user_id=user_id, type__in=_ACCESS, client__isnull=False)
        .values("client_id", "client__name")
        .annotate(first=Min("created_at"), last=Max("created_at"))
        .order_by("client__name", "client_id")
    )
    scopes: dict[str, set[str]] = {}
    for client_id, text in (
        Token.objects.valid()
        .filter(user_id=user_id, type__in=_ACCESS)
        .values_list("client_id", "scopes")
    ):
        scopes.setdefault(client_id, set()).update(s for s in text.split() if s)
    return [
        {
            "client": row["client__name"],
            "client_id": row["client_id"],
            "scopes": sorted(scopes.get(row["client_id"], ())),
            "first_issued_at": export_value(row["first"]),
            "last_issued_at": export_value(row["last"]),
        }
        for row in tokens
    ]


@receiver(hooks.member_exporting, dispatch_uid="identity_export")
def identity_export(sender, *, member, **kwargs):
    if member.user_id is None:
        return {"authenticators": [], "authorized_clients": []}
    return {
        "authenticators": _authenticators(member.user_id),
        "authorized_clients": _authorized_clients(member.user_id),
    }


@receiver(hooks.member_erased, dispatch_uid="identity_erase")
def identity_erase(sender, *, member, **kwargs):
    if member.user_id is None:
        return
    Authenticator.objects.filter(user_id=member.user_id).delete()
    Token.objects.filter(user_id=member.user_id).delete()
