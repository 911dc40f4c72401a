"""Tool authorizations as grants (AuthorizationGrant): who signed a member off on which
tool, when and until when. The member's `authorizations` column is the names of their
live grants, rewritten here in the transaction that grants or revokes, so the feed, the
access list and the identity provider keep reading the column. The staff edit of the
column, the authorize page, the import and the daily expiry all go through these
functions (README "Tool authorizations")."""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from members.audit import audit
from members.models import (
    Authorization,
    AuthorizationGrant,
    AuthorizationKind,
    Member,
    MemberStatus,
)
from members.rights import ADMINISTRATOR_GROUP


class GrantRefused(Exception):
    """A grant or revocation that was not made, with the reason staff are shown."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def may_grant(user, authorization: Authorization) -> bool:
    """The who-may-grant rule: a tool with trainers only by them, the Administrator
    group and superusers; a tool without, by staff who may change authorizations."""
    if user is None or not user.is_active:
        return False
    if user.is_superuser:
        return True
    trainers = {t.pk for t in authorization.trainers.all()}
    if trainers:
        return user.pk in trainers or _is_administrator(user)
    return user.has_perm("members.change_authorizations")


def _is_administrator(user) -> bool:
    cached = getattr(user, "_is_administrator", None)
    if cached is None:
        cached = user.groups.filter(name=ADMINISTRATOR_GROUP).exists()
        user._is_administrator = cached
    return cached


def grantable(user) -> QuerySet[Authorization]:
    """The tools (not retired) this user may grant, for the authorize page's choice."""
    tools = Authorization.objects.filter(retired=False)
    if user.is_superuser or _is_administrator(user):
        return tools
    mine = Q(trainers=user)
    if user.has_perm("members.change_authorizations"):
        mine |= Q(trainers__isnull=True)
    return tools.filter(mine).distinct()


def _who_may(authorization: Authorization) -> str:
    names = sorted(t.get_username() for t in authorization.trainers.all())
    if not names:
        return "You may not grant or revoke authorizations."
    return (
        f"Only {authorization.name}'s trainers ({', '.join(names)}), the "
        f"{ADMINISTRATOR_GROUP} group and superusers may grant or revoke it."
    )


def _locked_member(member_id: int) -> Member:
    member = (
        Member.objects.select_for_update()
        .only("status", "authorizations", "merged_into")
        .filter(pk=member_id)
        .first()
    )
    if member is None:
        raise GrantRefused("This member no longer exists.")
    if member.merged_into_id is not None:
        raise GrantRefused(
            f"This record was merged into member #{member.merged_into_id}; "
            "grant on that member instead."
        )
    if member.authorizations is not None and not isinstance(member.authorizations, dict):
        raise GrantRefused(
            "This member's authorizations are damaged (not a JSON object); "
            "a superuser must repair them first."
        )
    return member


def _sync_column(member_id: int, *, user) -> None:
    """Write the names of the member's live grants into the `authorizations` column
    (physical and computer lists), keeping any other key the column holds; a column
    that already says so is not written (no empty history entry)."""
    live = (
        AuthorizationGrant.objects.filter(member_id=member_id, revoked_at__isnull=True)
        .order_by("granted_at", "pk")
        .values_list("authorization__name", "authorization__kind")
    )
    names = {
        "authorizations": [name for name, kind in live if kind != AuthorizationKind.COMPUTER],
        "computer_authorizations": [
            name for name, kind in live if kind == AuthorizationKind.COMPUTER
        ],
    }
    column = Member.objects.values_list("authorizations", flat=True).get(pk=member_id)
    if isinstance(column, dict) and all(column.get(key) == names[key] for key in names):
        return
    Member.objects.filter(pk=member_id).merge_json_columns({"authorizations": names}, user=user)


def _end_expired(member_id: int, authorization_id: int, today: datetime.date) -> None:
    AuthorizationGrant.objects.filter(
        member_id=member_id,
        authorization_id=authorization_id,
        revoked_at__isnull=True,
        expires_on__lt=today,
    ).update(revoked_at=timezone.now())


def authorization_grant(
    *,
    member_id: int,
    authorization: Authorization,
    by,
    expires_on: datetime.date | None = None,
    note: str = "",
    source: str = "staff",
) -> AuthorizationGrant:
    """Grant `authorization` to the member, by `by` (None: an imported grant, no rule
    applies). Raises GrantRefused, writing nothing, for a tool this user may not grant,
    a retired tool, one already held, a banned or merged-away member, or an expiry in
    the past."""
    today = timezone.localdate()
    with audit(source, by), transaction.atomic():
        member = _locked_member(member_id)
        tool = Authorization.objects.prefetch_related("trainers").get(pk=authorization.pk)
        if by is not None:
            if not may_grant(by, tool):
                raise GrantRefused(_who_may(tool))
            if tool.retired:
                raise GrantRefused(f"{tool.name} is retired; it is no longer granted.")
            if member.membership_status == MemberStatus.BANNED:
                raise GrantRefused("This member is banned; banned members are granted nothing.")
        if expires_on is not None and expires_on < today:
            raise GrantRefused("The expiry date is in the past.")
        _end_expired(member_id, tool.pk, today)
        held = AuthorizationGrant.objects.filter(
            member_id=member_id, authorization=tool, revoked_at__isnull=True
        ).first()
        if held is not None:
            raise GrantRefused(
                f"This member already holds {tool.name} "
                f"(granted {timezone.localdate(held.granted_at).isoformat()})."
            )
        try:
            with transaction.atomic():
                grant = AuthorizationGrant.objects.create(
                    member_id=member_id,
                    authorization=tool,
                    granted_by=by,
                    expires_on=expires_on,
                    note=note,
                )
        except IntegrityError:
            # The live-grant index: another grant of the same tool won a race.
            raise GrantRefused(f"This member already holds {tool.name}.") from None
        _sync_column(member_id, user=by)
    return grant


def authorization_revoke(
    *, member_id: int, grant_id: int, by, source: str = "staff"
) -> AuthorizationGrant:
    """End one live grant of the member, by `by`. Raises GrantRefused, writing nothing,
    for a grant that is not this member's, already ended, or a tool this user may not
    revoke."""
    with audit(source, by), transaction.atomic():
        _locked_member(member_id)
        grant = (
            AuthorizationGrant.objects.select_for_update()
            .filter(pk=grant_id, member_id=member_id)
            .first()
        )
        if grant is None:
            raise GrantRefused("This member has no such grant.")
        if grant.revoked_at is not None:
            raise GrantRefused(f"{grant.authorization.name} was already revoked.")
        tool = Authorization.objects.prefetch_related("trainers").get(pk=grant.authorization_id)
        if by is not None and not may_grant(by, tool):
            raise GrantRefused(_who_may(tool))
        grant.revoked_at, grant.revoked_by = timezone.now(), by
        grant.save(update_fields=["revoked_at", "revoked_by"])
        _sync_column(member_id, user=by)
    return grant


def authorizations_import(*, member_id: int, names: Iterable[Authorization]) -> int:
    """The import's grants (no grantor, no rule applies): one per tool the member held
    in Deep Harbor and does not hold yet, in the order given, then the column written
    once from them (not at all when it already lists them). Returns the grants made."""
    with audit("import"), transaction.atomic():
        _locked_member(member_id)
        held = set(
            AuthorizationGrant.objects.filter(
                member_id=member_id, revoked_at__isnull=True
            ).values_list("authorization_id", flat=True)
        )
        new = [tool for tool in dict.fromkeys(names) if tool.pk not in held]
        for tool in new:
            AuthorizationGrant.objects.create(
                member_id=member_id, authorization=tool, note="imported from Deep Harbor"
            )
        _sync_column(member_id, user=None)
    return len(new)


def authorizations_set(
    *, member_id: int, physical: Iterable[str], computer: Iterable[str], by
) -> None:
    """A staff edit of the column: grant each name newly listed, revoke each one no
    longer listed, through the functions above (all or nothing: the caller's
    transaction). A name not in the catalog is refused."""
    wanted = {*physical, *computer}
    with transaction.atomic():
        _locked_member(member_id)
        live = {
            g.authorization.name: g
            for g in AuthorizationGrant.objects.filter(
                member_id=member_id, revoked_at__isnull=True
            ).select_related("authorization")
        }
        catalog = Authorization.objects.in_bulk(wanted - live.keys(), field_name="name")
        unknown = sorted(wanted - live.keys() - catalog.keys())
        if unknown:
            raise GrantRefused(f"Not in the catalog: {', '.join(unknown)}.")
        for name, grant in sorted(live.items()):
            if name not in wanted:
                authorization_revoke(member_id=member_id, grant_id=grant.pk, by=by)
        for name in sorted(catalog):
            authorization_grant(member_id=member_id, authorization=catalog[name], by=by)


@dataclass(frozen=True)
class Expired:
    grants: int
    members: int


def authorizations_expire(*, today: datetime.date | None = None) -> Expired:
    """End every live grant whose expiry day has passed, and take its name out of the
    member's column (the feed carries the change). The daily job calls this."""
    today = today or timezone.localdate()
    ended = members = 0
    due = (
        AuthorizationGrant.objects.filter(revoked_at__isnull=True, expires_on__lt=today)
        .values_list("member_id", flat=True)
        .distinct()
    )
    for member_id in sorted(set(due)):
        with audit("command"), transaction.atomic():
            list(Member.objects.select_for_update().filter(pk=member_id).values_list("pk"))
            count = AuthorizationGrant.objects.filter(
                member_id=member_id, revoked_at__isnull=True, expires_on__lt=today
            ).update(revoked_at=timezone.now())
            if count:
                _sync_column(member_id, user=None)
                ended += count
                members += 1
    return Expired(ended, members)


def grants_merge(*, survivor_id: int, merged_id: int, by) -> None:
    """A merge unites the two members' grants (members/merge.py calls this in its
    transaction, having united the two columns' names): the merged record's live grants
    move to the survivor, except a tool the survivor already holds, whose second grant
    ends."""
    held = AuthorizationGrant.objects.filter(member_id=survivor_id, revoked_at__isnull=True)
    moving = AuthorizationGrant.objects.filter(member_id=merged_id, revoked_at__isnull=True)
    moving.filter(authorization__in=held.values("authorization")).update(
        revoked_at=timezone.now(), revoked_by=by
    )
    moving.update(member_id=survivor_id)
