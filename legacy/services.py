"""The Deep Harbor import (README, "Moving from Deep Harbor"): `deepharbor_import` owns
its transactions and its audit source ("import"). Its members first, then its door log
(legacy/door_log.py)."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from billing.models import Plan
from legacy import door_log, mapping, source
from legacy.mapping import (
    COMPLETED,
    DUPLICATE,
    LOGIN,
    NUMBER,
    TAG_CONFLICT,
    VALUE,
    MappedRow,
    RowError,
)
from legacy.models import ImportedRow, Outcome, fix_text
from legacy.roles import import_roles
from members import scaffolding
from members.audit import audit
from members.grants import authorizations_import
from members.models import Authorization, AuthorizationKind, Member, RfidTag, User
from members.partial import is_partial
from members.shapes import NULLABLE_COLUMNS, note_entry
from members.validators import placeholder_username

BATCH_SIZE = 500
# Door log rows per statement (each is small; the door API takes as many at once).
DOOR_LOG_BATCH = 1000
IMPORT_NOTE_FROM = "import"
# One import at a time: two would race for the same legacy ids and addresses.
_LOCK = "dhportal.import_deepharbor"
# Completed at import when Deep Harbor left them NULL; a NULL status is a real unknown
# and stays missing (the member is partial, for staff to decide).
COMPLETED_COLUMNS = tuple(c for c in NULLABLE_COLUMNS if c != "status")


class ImportBusy(Exception):
    pass


@dataclass
class ImportSummary:
    imported: int = 0
    already: int = 0
    partial: int = 0
    duplicates: int = 0
    fixed: int = 0
    tag_conflicts: int = 0
    numbers_changed: int = 0
    failed: int = 0
    refused: int = 0
    staff: int = 0
    door_events: int = 0

    def line(self) -> str:
        return (
            f"imported {self.imported}, already imported {self.already}, "
            f"partial {self.partial}, duplicates {self.duplicates}, "
            f"values fixed {self.fixed}, tag conflicts {self.tag_conflicts}, "
            f"numbers changed {self.numbers_changed}, staff {self.staff}, "
            f"door events {self.door_events}"
        )


def erased_ban_matches(*emails: str) -> bool:
    """Whether any of `emails` (any spelling, with or without a +tag) matches the ban
    hash an erased, banned member left (README, "Privacy", members/erasure.py): the import
    refuses such a row."""
    from members.erasure import is_erased_ban

    return is_erased_ban(*emails)


class _Rollback(Exception):
    """Ends a dry run: everything it wrote is rolled back."""


def deepharbor_import(
    *,
    source_url: str,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    report: Callable[[str], None] = lambda line: None,
    progress: Callable[[int], contextlib.AbstractContextManager] | None = None,
) -> ImportSummary:
    """Import every Deep Harbor member the ledger has not seen.

    Raises source.SourceError (nothing written) for a source that cannot be read as
    Deep Harbor's, ImportBusy when another import runs. `report` gets one line per row
    not imported (legacy id and reason); `progress(total)` is a context manager giving
    an object with update(n).
    """
    conn = source.connect(source_url)
    summary = ImportSummary()
    try:
        with _import_lock(), audit("import"):
            try:
                with transaction.atomic() if dry_run else contextlib.nullcontext():
                    numbers = _Numbers.start(_read(source.max_member_id, conn), dry_run=dry_run)
                    _import(conn, summary, batch_size, report, progress, numbers)
                    if dry_run:
                        raise _Rollback
            except _Rollback:
                pass
    finally:
        conn.close()
    return summary


@contextlib.contextmanager
def _import_lock():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_LOCK])
        if not cursor.fetchone()[0]:
            raise ImportBusy("another import_deepharbor is running")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_LOCK])


def _read(call, *args):
    """A read of the source; its failure is a SourceError (one line, nothing written)."""
    import psycopg

    try:
        return call(*args)
    except psycopg.Error as error:
        raise source.SourceError(
            f"reading the Deep Harbor database failed: {' '.join(str(error).split())}"
        ) from None


def _import(conn, summary, batch_size, report, progress, numbers):
    plans, authorizations = _read(source.products, conn), _read(source.authorizations, conn)
    with transaction.atomic():
        _fill_catalog(plans, authorizations, report)
    total = _read(source.count_members, conn)
    bar = progress(total) if progress else contextlib.nullcontext()
    with bar as shown:
        batches = source.member_id_batches(conn, batch_size)
        while True:
            ids = _read(next, batches, None)
            if ids is None:
                break
            _import_batch(conn, ids, summary, report, numbers)
            if shown is not None:
                shown.update(len(ids))
    # After the members: the roles make imported members staff.
    roles, member_roles = _read(source.roles, conn), _read(source.member_roles, conn)
    with transaction.atomic():
        summary.staff += import_roles(roles, member_roles, report)
    # After the members, so each event finds the member now holding its tag.
    summary.door_events += door_log.import_door_log(
        conn, batch_size=DOOR_LOG_BATCH, read=_read, report=report
    )


def _fill_catalog(products, authorizations, report):
    """Products become plans, available authorizations the catalog; a rerun adds only
    what is new and never renames what staff may have edited."""
    for product in products:
        details = product["details"] if isinstance(product["details"], dict) else {}
        product_id = details.get("stripe_product_id")
        name = product["name"] if isinstance(product["name"], str) else ""
        if not isinstance(product_id, str) or not product_id.strip():
            report(f"product {product['id']}: no stripe_product_id; no plan made")
            continue
        Plan.objects.get_or_create(
            stripe_product_id=product_id.strip(),
            defaults={"name": (name.strip() or product_id.strip())[:100]},
        )
    for row in authorizations:
        name = row["name"].strip() if isinstance(row["name"], str) else ""
        if not name:
            report(f"available authorization {row['id']}: no name; skipped")
            continue
        kind = AuthorizationKind.COMPUTER if row["requires_login"] else AuthorizationKind.PHYSICAL
        Authorization.objects.get_or_create(name=name[:100], defaults={"kind": kind})


@dataclass
class _Holders:
    """Who already holds what, for one batch: filled from the database, then kept up
    to date as the batch's rows go in."""

    emails: dict[str, int]
    usernames: dict[str, int]
    tags: dict[str, int]
    login_emails: set[str]


def _holders(rows: list[MappedRow]) -> _Holders:
    emails = {r.email for r in rows if r.email}
    names = {r.username.lower() for r in rows if r.username}
    tags = {t for r in rows for t in r.tags}
    members = Member.objects.exclude(email="").annotate(key=Lower("email"))
    by_name = Member.objects.exclude(username="").annotate(key=Lower("username"))
    return _Holders(
        emails=dict(members.filter(key__in=emails).order_by("pk").values_list("key", "pk")),
        usernames=dict(by_name.filter(key__in=names).order_by("pk").values_list("key", "pk")),
        tags=dict(RfidTag.objects.filter(tag__in=tags).values_list("tag", "member_id")),
        login_emails=set(
            User.objects.exclude(email="")
            .annotate(key=Lower("email"))
            .filter(key__in=emails)
            .values_list("key", flat=True)
        )
        | set(
            EmailAddress.objects.filter(email__in=emails, verified=True).values_list(
                "email", flat=True
            )
        ),
    )


def _import_batch(conn, ids, summary, report, numbers):
    seen = set(ImportedRow.objects.filter(legacy_id__in=ids).values_list("legacy_id", flat=True))
    summary.already += len(seen)
    new_ids = [i for i in ids if i not in seen]
    if not new_ids:
        return
    # Only rows the ledger has not seen are read in full: a rerun reads ids alone.
    rows = _read(source.members, conn, new_ids)
    checkers = [c for c in map(mapping.checker_ids, rows) if c is not None]
    identities = _read(source.identities, conn, checkers)
    usernames = {i: mapping.username_of(identity) for i, identity in identities.items()}
    with transaction.atomic():
        member_ids = numbers.assign([row["id"] for row in rows])
        # Fast path: the whole batch in four inserts under one savepoint. A row the
        # database refuses rolls the savepoint back, and the batch is then written
        # again row by row, a savepoint each, so only that row is left out.
        try:
            with transaction.atomic():
                plans = _plan_batch(rows, member_ids, usernames, report)
                _write(plans)
        except DatabaseError:
            plans = _plan_batch(rows, member_ids, usernames, report, row_by_row=True)
        for plan in plans:
            _count(plan, summary)
            if plan.member is not None:
                _grant_imported(plan.member, report)
    summary.failed += len(rows) - len(plans)


def _grant_imported(member: Member, report) -> None:
    """Each authorization name the member held in Deep Harbor becomes a grant with no
    grantor (members/grants.py writes the column from them); a name the catalog lacks
    is added to it, and reported."""
    column = member.authorizations if isinstance(member.authorizations, dict) else {}
    tools = []
    for key, kind in (
        ("authorizations", AuthorizationKind.PHYSICAL),
        ("computer_authorizations", AuthorizationKind.COMPUTER),
    ):
        names = column.get(key)
        for name in names if isinstance(names, list) else []:
            if not isinstance(name, str) or not 0 < len(name) <= 100:
                continue
            tool, made = Authorization.objects.get_or_create(name=name, defaults={"kind": kind})
            if made:
                report(f"legacy id {member.legacy_id}: {name!r} added to the catalog")
            tools.append(tool)
    if tools:
        authorizations_import(member_id=member.pk, names=tools)


def _taken_login_names(names: set[str]) -> set[str]:
    return set(
        User.objects.annotate(key=Lower("username"))
        .filter(key__in={n.lower() for n in names})
        .values_list("key", flat=True)
    )


def _sequence() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Member._meta.db_table])
        return cursor.fetchone()[0]


@dataclass
class _Numbers:
    """Member numbers: an imported row keeps its Deep Harbor id unless a member already
    holds it; such a row gets a number above every id in use and every Deep Harbor id
    (taken from the sequence, or on a dry run counted here: a dry run uses up no
    number, and sequences are not rolled back)."""

    dry_run: bool
    next_free: int

    @classmethod
    def start(cls, source_max: int, *, dry_run: bool) -> "_Numbers":
        """Before the first row: the sequence (on a real run) moved above Deep Harbor's
        ids and the ids in use, so new members, from signup too, never take a number
        an imported member is to keep."""
        table, sequence = Member._meta.db_table, _sequence()
        highest = (
            f"GREATEST((SELECT COALESCE(max(id), 0) FROM {table}), %s, "  # noqa: S608
            f"(SELECT last_value FROM {sequence}))"
        )
        with connection.cursor() as cursor:
            if dry_run:
                cursor.execute(f"SELECT {highest}", [source_max])
            else:
                cursor.execute(f"SELECT setval(%s, {highest})", [sequence, source_max])
            return cls(dry_run=dry_run, next_free=cursor.fetchone()[0] + 1)

    def assign(self, legacy_ids: list[int]) -> list[int]:
        """The member number of each row, in order."""
        taken = set(Member.objects.filter(pk__in=legacy_ids).values_list("pk", flat=True))
        fresh = iter(self._fresh(sum(i in taken for i in legacy_ids)))
        return [next(fresh) if i in taken else i for i in legacy_ids]

    def _fresh(self, count: int) -> list[int]:
        if not count:
            return []
        if self.dry_run:
            self.next_free += count
            return list(range(self.next_free - count, self.next_free))
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [_sequence(), count])
            return [r[0] for r in cursor.fetchall()]


@dataclass
class _Plan:
    """What one row becomes: its login, address, member and ledger row, unsaved."""

    row: MappedRow
    user: User | None
    address: EmailAddress | None
    member: Member | None
    ledger: ImportedRow
    duplicate_of: int | None = None
    dropped: int = 0


def _plan_batch(rows, member_ids, usernames, report, *, row_by_row=False):
    """Map and decide each row against what the database and the batch's earlier rows
    hold. `row_by_row`: the second pass after the fast path failed; each row is written
    in its own savepoint as it is decided (a row the database refuses is reported and
    holds nothing), and what the first pass reported is not reported again."""
    first = not row_by_row
    mapped: list[tuple[MappedRow, int]] = []
    for row, member_id in zip(rows, member_ids, strict=True):
        try:
            mapped.append((mapping.map_row(row, usernames=usernames), member_id))
        except RowError as error:
            if first:
                report(f"legacy id {row['id']}: not imported: {error}")
        except Exception as error:  # a row no rule foresaw must not stop the others
            if first:
                report(f"legacy id {row['id']}: not imported: {type(error).__name__}")
    holders = _holders([m for m, _ in mapped])
    taken_names = _taken_login_names(
        {m.username for m, _ in mapped if m.username} | {placeholder_username(i) for _, i in mapped}
    )
    plans = []
    for row, member_id in mapped:
        plan = _plan(row, member_id, holders, taken_names)
        if plan.member is None and first:
            report(f"legacy id {row.legacy_id}: not imported: an erased, banned member's email")
        if row_by_row:
            try:
                with transaction.atomic():
                    _write([plan])
            except DatabaseError as error:
                report(f"legacy id {row.legacy_id}: not imported: {_reason(error)}")
                continue
        _hold(plan, holders, taken_names)
        plans.append(plan)
    return plans


def _plan(row: MappedRow, member_id: int, holders, taken_names) -> _Plan:
    if erased_ban_matches(*{row.email, *row.addresses} - {""}):
        # An erased, banned person stays out, whichever of the row's addresses (primary
        # or secondary) was theirs; the ledger keeps their legacy id (and no
        # personal data), so a rerun does not try again.
        ledger = ImportedRow(
            legacy_id=row.legacy_id,
            outcome=Outcome.ERASED,
            detail=[{"field": "email", "value": None, "fix": "an erased member's ban"}],
        )
        return _Plan(row=row, user=None, address=None, member=None, ledger=ledger)
    duplicate_of = None
    email_holder = holders.emails.get(row.email) if row.email else None
    if email_holder is not None:
        row.fix("email", row.email, f"held by member #{email_holder}; left empty", DUPLICATE)
        row.email, duplicate_of = "", email_holder
    name_holder = holders.usernames.get(row.username.lower()) if row.username else None
    if name_holder is not None:
        row.fix("username", row.username, f"held by member #{name_holder}; left empty", DUPLICATE)
        row.username = ""
        duplicate_of = duplicate_of or name_holder
    access = row.columns["access"]
    dropped = []
    for tag in row.tags:
        holder = holders.tags.get(tag)
        if holder is not None:
            dropped.append(tag)
            where = f"access.{mapping.RFID_TAGS}"
            row.fix(where, tag, f"held by member #{holder}; dropped", TAG_CONFLICT)
    if dropped:
        row.tags = [t for t in row.tags if t not in dropped]
        access[mapping.RFID_TAGS] = row.tags
    if member_id != row.legacy_id:
        row.fix(
            "member number",
            row.legacy_id,
            f"held by another member; this member is #{member_id}",
            NUMBER,
        )
    login = _login_name(row, member_id, holders, taken_names)
    if row.date_added is None:
        row.fix("date_added", None, "not set in Deep Harbor; the import time is used")
    if row.fixes and isinstance(row.columns["notes"], list):
        row.columns["notes"].append(
            note_entry(
                f"Imported from Deep Harbor #{row.legacy_id}: "
                + "; ".join(fix_text(f.as_json()) for f in row.fixes),
                author=IMPORT_NOTE_FROM,
            )
        )
    _complete(row)
    user = address = None
    if login:
        identity = row.columns["identity"]
        user = User(
            username=login,
            email=row.email,
            password=make_password(None),
            first_name=_text(identity.get("first_name"))[:150],
            last_name=_text(identity.get("last_name"))[:150],
        )
        address = EmailAddress(email=row.email, verified=False, primary=True)
    member = Member(
        id=member_id,
        email=row.email,
        username=row.username,
        legacy_id=row.legacy_id,
        duplicate_of_id=duplicate_of,
        date_added=row.date_added or timezone.now(),
        **row.columns,
    )
    ledger = ImportedRow(
        legacy_id=row.legacy_id,
        member_id=member_id,
        outcome=Outcome.IMPORTED,
        detail=[f.as_json() for f in row.fixes],
    )
    return _Plan(row, user, address, member, ledger, duplicate_of, len(dropped))


def _complete(row: MappedRow) -> None:
    """The columns Deep Harbor left NULL, completed by the scaffolding function (after
    the fixes' note, which a NULL notes column does not get); the ledger says which."""
    filled, _ = scaffolding.completion(row.columns, only=COMPLETED_COLUMNS)
    for column, value in filled.items():
        row.columns[column] = value
        row.fix(column, None, "not set in Deep Harbor; completed with the default", COMPLETED)


def _write(plans: list[_Plan]) -> None:
    """The plans' rows in four inserts (the audit triggers record each member)."""
    logins: list[tuple[User, EmailAddress, Member]] = []
    for plan in plans:
        if plan.user is None:
            continue
        # _plan makes a login's address and member along with it.
        assert plan.address is not None and plan.member is not None
        logins.append((plan.user, plan.address, plan.member))
    User.objects.bulk_create([user for user, _, _ in logins])
    for user, address, member in logins:
        address.user_id = user.pk
        member.user_id = user.pk
    EmailAddress.objects.bulk_create([address for _, address, _ in logins])
    Member.objects.bulk_create([p.member for p in plans if p.member is not None])
    ImportedRow.objects.bulk_create([p.ledger for p in plans])


def _hold(plan: _Plan, holders, taken_names) -> None:
    """The batch's later rows see what this one now holds."""
    if plan.member is None:
        return
    member_id, row = plan.member.pk, plan.row
    if row.email:
        holders.emails[row.email] = member_id
    if row.username:
        holders.usernames[row.username.lower()] = member_id
    for tag in row.tags:
        holders.tags[tag] = member_id
    if plan.user is not None:
        taken_names.add(plan.user.username.lower())
        holders.login_emails.add(row.email)


def _count(plan: _Plan, summary: ImportSummary) -> None:
    if plan.member is None:
        summary.refused += 1
        return
    row = plan.row
    summary.imported += 1
    summary.partial += is_partial(row.columns)
    summary.duplicates += plan.duplicate_of is not None
    summary.fixed += sum(f.kind in (VALUE, LOGIN) for f in row.fixes)
    summary.tag_conflicts += plan.dropped
    summary.numbers_changed += any(f.kind == NUMBER for f in row.fixes)


def _login_name(row: MappedRow, member_id: int, holders, taken_names) -> str:
    """The login an imported member with an email gets: their username, or the
    placeholder `member-<id>` (docs/shapes.md); '' for no login."""
    if not row.email:
        return ""
    if row.email in holders.login_emails:
        row.fix("login", row.email, "another login uses this email; no login made", LOGIN)
        return ""
    if row.username and row.username.lower() not in taken_names:
        return row.username
    placeholder = placeholder_username(member_id)
    if row.username:
        row.fix(
            "login", row.username, f"another login has this name; login is {placeholder}", LOGIN
        )
    if placeholder.lower() in taken_names:
        row.fix("login", placeholder, "another login has this name; no login made", LOGIN)
        return ""
    return placeholder


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _reason(error: DatabaseError) -> str:
    """Why the database refused a row, without its values."""
    diag = getattr(error.__cause__, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    if constraint:
        return f"refused by the database ({constraint})"
    return f"refused by the database ({type(error.__cause__ or error).__name__})"
