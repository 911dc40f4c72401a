"""Complete every partial member, from the shell or cron: the admin's repair action."""

from django.core.management.base import BaseCommand

from members.audit import audit
from members.models import Member
from members.scaffolding import NULLABLE_COLUMNS, missing_columns
from members.services import members_repair


class Command(BaseCommand):
    help = "Fill the missing columns of partial members (--dry-run lists them instead)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="list each partial member's id and missing columns; change nothing",
        )

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            partial = Member.objects.partial().order_by("pk").only("pk", *NULLABLE_COLUMNS)
            count = 0
            for member in partial.iterator():
                count += 1
                self.stdout.write(f"{member.pk}\t{', '.join(missing_columns(member))}")
            self.stdout.write(f"{count} partial members; nothing changed (dry run)")
            return
        with audit("command"):
            result = members_repair(queryset=Member.objects.all())
        self.stdout.write(result.summary())
