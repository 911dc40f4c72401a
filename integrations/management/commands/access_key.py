"""manage.py access_key create <name> | revoke <name>: keys of the access API.

`create` prints the key once, alone on the last line (only its SHA-256 is kept), so a
script can take it with `tail -n 1`. Anything wrong is said in one line on stderr, with
a non-zero exit status."""

import sys

from django.core.management.base import BaseCommand, CommandError

from integrations.services import AccessKeyError, access_key_create, access_key_revoke


class Command(BaseCommand):
    help = "Create or revoke a key of the access API (GET /api/v1/access/)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message):
            # argparse would print its usage too; the contract is one line.
            if parser.called_from_command_line:
                sys.stderr.write(f"access_key: {message} (usage: access_key create|revoke NAME)\n")
                sys.exit(2)
            raise CommandError(message)

        # Replaced on this one parser (Django builds it; there is no class to give it),
        # which the checker refuses for any method.
        parser.error = error  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "revoke"])
        parser.add_argument("name")

    def handle(self, *args, action, name, **options):
        try:
            if action == "create":
                row, key = access_key_create(name=name)
                self.stdout.write(f'Access key "{row.name}" created. It is shown once, below:')
                self.stdout.write(key)
            else:
                row = access_key_revoke(name=name)
                self.stdout.write(f'Access key "{row.name}" revoked.')
        except AccessKeyError as error:
            raise CommandError(str(error)) from None
