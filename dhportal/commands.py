"""The base of the project's management commands: whatever is wrong with the arguments
is said in one line on stderr, with exit status 2 and nothing written (argparse would
print its whole usage first). Called from code (call_command), the same mistake raises
CommandError, as Django's own commands do."""

import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    # Appended to the one line, e.g. "usage: access_key create|revoke NAME".
    usage_hint = ""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        hint = f" ({self.usage_hint})" if self.usage_hint else ""

        def error(message: str) -> NoReturn:
            if parser.called_from_command_line:
                sys.stderr.write(f"{subcommand}: {message}{hint}\n")
                sys.exit(2)
            raise CommandError(f"Error: {message}")

        # Replaced on this one parser (Django builds it; there is no class to give it),
        # which the checker refuses for any method.
        parser.error = error  # type: ignore[method-assign]
        return parser
