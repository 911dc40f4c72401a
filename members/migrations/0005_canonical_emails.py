"""Existing emails in their canonical form (members/emails.py), on Member, User and
allauth's EmailAddress.

Rows are taken in id order. A row whose canonical form another row of the same table
already holds keeps its text and is reported; a member also gets `duplicate_of` set to
the holder, for staff to merge or fix (nothing is merged here). An address with no
canonical form (email-validator refuses it) keeps its text and is reported. Reports
name rows by id and give the reason, never the address. There is no way back: the
reverse keeps the canonical forms.

The canonical form is computed by this migration's own copy of the rule as it stood
when the migration was written (members/emails.py's `normalize_email`), so the
migration does the same work whenever it runs, whatever that module says later.
"""

import unicodedata

import pghistory
from django.db import migrations
from django.db.models.functions import Lower
from email_validator import EmailNotValidError, validate_email

BATCH = 2000
PREFIX = "canonical emails:"
MAX_INPUT_LENGTH = 1000


def _canonical(text) -> tuple[str, str]:
    """(the canonical form, "") or ("", why the address has none): strip, Unicode
    NFKC, email-validator without DNS and without SMTPUTF8, then the local part and
    the ASCII (IDNA) domain lower-cased."""
    if not isinstance(text, str) or not text.strip():
        return "", "Enter an email address."
    if len(text) > MAX_INPUT_LENGTH:
        return "", "This email address is too long."
    try:
        checked = validate_email(
            unicodedata.normalize("NFKC", text.strip()),
            check_deliverability=False,
            allow_smtputf8=False,
        )
    except EmailNotValidError as error:
        return "", str(error)
    return f"{checked.local_part.lower()}@{checked.ascii_domain.lower()}", ""


def _canonicalise(rows, *, label: str, report, on_duplicate=None) -> dict:
    counts = {"changed": 0, "duplicates": 0, "kept": 0}
    for pk, text in (
        rows.exclude(email="").order_by("pk").values_list("pk", "email").iterator(chunk_size=BATCH)
    ):
        canonical, refusal = _canonical(text)
        if not canonical:
            counts["kept"] += 1
            report(f"{PREFIX} {label} #{pk} kept its email: {refusal}")
            continue
        if canonical == text:
            continue
        holder = (
            rows.exclude(pk=pk)
            .exclude(email="")
            .annotate(email_ci=Lower("email"))
            .filter(email_ci=canonical)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if holder is not None:
            counts["duplicates"] += 1
            if on_duplicate is not None:
                on_duplicate(pk, holder)
            report(
                f"{PREFIX} {label} #{pk} kept its email: {label} #{holder} already holds "
                "its canonical form"
            )
            continue
        rows.filter(pk=pk).update(email=canonical)
        counts["changed"] += 1
    return counts


def canonicalise_emails(apps, schema_editor, report=print):
    """The migration's work; `report` receives one line per row left as it was and a
    summary line per table."""
    alias = schema_editor.connection.alias
    Member = apps.get_model("members", "Member")
    User = apps.get_model("members", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    members = Member.objects.using(alias)

    def mark_duplicate(pk, holder):
        members.filter(pk=pk).update(duplicate_of_id=holder)

    # The audit source members/audit.py calls "command".
    with pghistory.context(source="command"):
        tables = [
            ("member", members, mark_duplicate),
            ("user", User.objects.using(alias), None),
            ("address", EmailAddress.objects.using(alias), None),
        ]
        for label, rows, on_duplicate in tables:
            counts = _canonicalise(rows, label=label, report=report, on_duplicate=on_duplicate)
            if any(counts.values()):
                report(
                    f"{PREFIX} {label} rows changed {counts['changed']}, "
                    f"duplicates {counts['duplicates']}, kept {counts['kept']}"
                )


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0004_member_legacy_id_duplicate_of_authorization"),
        # allauth's EmailAddress is canonicalised too.
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(canonicalise_emails, migrations.RunPython.noop)]
