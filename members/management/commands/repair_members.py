"""Complete every partial member, from the shell or cron: the admin's repair action."""

from dhportal import commands
from members.audit import audit
from members.models import Member
from members.partial import MEMBERSHIP_STATUS
from members.scaffolding import NULLABLE_COLUMNS, PENDING, missing_columns
from members.services import members_repair


def _would_fill(member) -> str:
    """What the repair would do to this member, in words."""
    labels = missing_columns(member)
    parts = []
    columns = [label for label in labels if label != MEMBERSHIP_STATUS]
    if columns:
        parts.append("fill " + ", ".join(columns) + " with the defaults")
    if MEMBERSHIP_STATUS in labels:
        if isinstance(member.status, dict):
            parts.append(f'set status.membership_status to "{PENDING}"')
        else:
            parts.append("nothing for status: it is not a JSON object (a staff edit)")
    return "; ".join(parts)


class Command(commands.Command):
    help = "Fill the missing columns of partial members (--dry-run lists them instead)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="name each partial member and what the repair would fill; change nothing",
        )

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            partial = (
                Member.objects.partial()
                .order_by("pk")
                .only("pk", "email", "username", "identity", *NULLABLE_COLUMNS)
            )
            count = 0
            for member in partial.iterator():
                count += 1
                # The member number first, tab-separated, for scripts reading the list.
                self.stdout.write(
                    f"{member.pk}\t{', '.join(missing_columns(member))}\t"
                    f"{member}: would {_would_fill(member)}."
                )
            noun = "partial member" if count == 1 else "partial members"
            self.stdout.write(f"{count} {noun}; nothing changed (dry run).")
            return
        with audit("command"):
            result = members_repair(queryset=Member.objects.all())
        self.stdout.write(result.summary())
