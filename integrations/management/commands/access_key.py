"""manage.py access_key create <name> [--scope SCOPE ...] | revoke <name>: keys of the
door API.

`create` prints the key once, alone on the last line (only its SHA-256 is kept), so a
script can take it with `tail -n 1`. `--scope` may be repeated (access:read,
door-events:write, metrics:read); without it the key reads the access list. Anything
wrong is said in one line on stderr, with a non-zero exit status."""

from django.core.management.base import CommandError

from dhportal import commands
from integrations.models import Scope
from integrations.services import AccessKeyError, access_key_create, access_key_revoke


class Command(commands.Command):
    usage_hint = "usage: access_key create|revoke NAME [--scope SCOPE ...]"
    help = (
        "Create or revoke a key of the door API (GET /api/v1/access/, POST /api/v1/door-events/)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "revoke"])
        parser.add_argument("name")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            help=f"what the key may do ({', '.join(Scope.values)}); repeat for several;"
            " default access:read",
        )

    def handle(self, *args, action, name, scopes=None, **options):
        try:
            if action == "create":
                row, key = access_key_create(name=name, scopes=scopes)
                self.stdout.write(
                    f'Access key "{row.name}" created with scopes {", ".join(row.scopes)}.'
                    " It is shown once, below:"
                )
                self.stdout.write(key)
            else:
                if scopes:
                    raise AccessKeyError("--scope goes with create.")
                row = access_key_revoke(name=name)
                self.stdout.write(f'Access key "{row.name}" revoked.')
        except AccessKeyError as error:
            raise CommandError(str(error)) from None
