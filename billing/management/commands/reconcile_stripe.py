"""Compare the portal with Stripe and repair what the webhook missed (README, "Stripe
reconciliation")."""

import datetime
import sys

from django.core.management.base import CommandError
from django.utils import dateparse, timezone

from billing.reconcile import reconcile
from dhportal import commands

# Exit statuses: 1 when Stripe could not be read, 2 for bad arguments.
UNREADABLE, BAD_ARGUMENTS = 1, 2


def parse_since(value: str) -> datetime.datetime:
    """An ISO date (midnight in TIME_ZONE) or date and time; raises ValueError."""
    text = value.strip()
    try:
        moment = dateparse.parse_datetime(text)
        if moment is None:
            day = dateparse.parse_date(text)
            if day is None:
                raise ValueError
            moment = datetime.datetime.combine(day, datetime.time())
    except ValueError:
        raise ValueError(f"--since: {value!r} is not a date (YYYY-MM-DD or ISO 8601)") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > timezone.now():
        raise ValueError(f"--since: {value!r} is in the future")
    return moment


class Command(commands.Command):
    help = (
        "Check the Stripe webhook endpoint, apply events the webhook missed and compare "
        "every subscription with Stripe's (needs STRIPE_SECRET_KEY)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            metavar="DATE",
            help="list events from DATE (default: the last complete run, less a margin; "
            "the first run goes back Stripe's 30 days)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="store findings, change nothing else (no events applied, no repairs)",
        )

    def handle(self, *args, since=None, dry_run=False, **options):
        try:
            moment = parse_since(since) if since is not None else None
        except ValueError as error:
            raise CommandError(str(error), returncode=BAD_ARGUMENTS) from None
        with _progress(self.stderr) as progress:
            result = reconcile(since=moment, dry_run=dry_run, progress=progress)
        if result.busy:
            self.stdout.write("another reconciliation is running; nothing done")
            return
        self.stdout.write(result.summary())
        if not result.readable:
            raise CommandError(f"Stripe could not be read: {result.error}", returncode=UNREADABLE)


class _progress:
    """A tqdm counter per step on a terminal; nothing otherwise."""

    def __init__(self, stream):
        self.on = getattr(stream, "isatty", lambda: False)() and sys.stderr.isatty()
        self.bars = {}

    def __enter__(self):
        return self.update if self.on else None

    def update(self, what: str, n: int) -> None:
        if what not in self.bars:
            from tqdm import tqdm

            self.bars[what] = tqdm(desc=what, unit="", leave=False, file=sys.stderr)
        self.bars[what].update(n)

    def __exit__(self, *exc):
        for bar in self.bars.values():
            bar.close()
