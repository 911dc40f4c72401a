"""Bring Deep Harbor's members in (README, "Moving from Deep Harbor")."""

import contextlib
import sys

from django.core.management.base import CommandError

from dhportal import commands
from legacy.services import ImportBusy, deepharbor_import
from legacy.source import SourceError


class Command(commands.Command):
    help = (
        "Import the members of a Deep Harbor database (read-only) that the import ledger "
        "has not seen; --dry-run writes nothing and prints the same summary."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", required=True, help="the Deep Harbor database, as a postgres:// URL"
        )
        parser.add_argument("--dry-run", action="store_true", help="import, then roll back")

    def handle(self, *args, source, dry_run=False, **options):
        try:
            summary = deepharbor_import(
                source_url=source,
                dry_run=dry_run,
                report=lambda line: self.stderr.write(line),
                progress=self._progress,
            )
        except (SourceError, ImportBusy) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(summary.line())
        if summary.failed:
            self.stderr.write(
                f"{summary.failed} rows not imported (see above); a rerun tries them again"
            )
        if dry_run:
            self.stderr.write("dry run: nothing was written")

    def _progress(self, total: int):
        stream = getattr(self.stderr, "_out", sys.stderr)
        if not (hasattr(stream, "isatty") and stream.isatty()):
            return contextlib.nullcontext()
        from tqdm import tqdm

        return tqdm(total=total, unit="rows", file=stream, desc="Deep Harbor members")
