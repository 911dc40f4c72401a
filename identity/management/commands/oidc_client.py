"""`manage.py oidc_client create <name> --redirect-uri <uri> ...`: register one of the
space's systems as a client of the identity provider (README, "Log in to other systems
with the portal"). The last two lines printed are `client_id=<id>` and
`client_secret=<secret>` (empty for a public client), for scripts to read."""

from django.conf import settings
from django.core.management.base import CommandError

from dhportal import commands
from identity.clients import GRANTS, SCOPES, ClientRefused, client_create
from identity.sql import DEFAULT_STATUSES


class Command(commands.Command):
    help = "Register a client of the identity provider: oidc_client create <name> ..."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create"])
        parser.add_argument("name", help="the system's name, shown on the consent page")
        parser.add_argument(
            "--redirect-uri",
            dest="redirect_uris",
            action="extend",
            nargs="+",
            default=[],
            required=True,
            help="where the portal sends the member back (repeat for several)",
        )
        parser.add_argument(
            "--public", action="store_true", help="no secret: PKCE (S256) is required instead"
        )
        parser.add_argument(
            "--skip-consent",
            action="store_true",
            help="no consent page (for the space's own systems)",
        )
        parser.add_argument(
            "--status",
            dest="statuses",
            action="extend",
            nargs="+",
            default=[],
            help=f"membership statuses that may log in (default: {' '.join(DEFAULT_STATUSES)})",
        )
        parser.add_argument(
            "--requires",
            action="extend",
            nargs="+",
            default=[],
            help="authorizations a member must hold, by name (default: none)",
        )

    def handle(self, *args, **options):
        try:
            client, secret = client_create(
                name=options["name"],
                redirect_uris=options["redirect_uris"],
                public=options["public"],
                skip_consent=options["skip_consent"],
                statuses=options["statuses"] or DEFAULT_STATUSES,
                requires=options["requires"],
            )
        except ClientRefused as refused:
            raise CommandError(str(refused)) from None
        policy = client.policy
        write = self.stdout.write
        write(
            f"Created client {client.name!r} ({client.type}; consent page: "
            f"{'skipped' if client.skip_consent else 'shown'})."
        )
        write(f"Redirect URIs: {' '.join(client.get_redirect_uris())}")
        write(f"Scopes: {' '.join(SCOPES)}; grants: {', '.join(GRANTS)}.")
        write(f"Who may log in: {policy.summary}.")
        write(f"Discovery: {settings.SITE_URL}/.well-known/openid-configuration")
        if secret:
            write("Keep the secret now: it is stored hashed and is shown only this once.")
        write(f"client_id={client.id}")
        write(f"client_secret={secret}")
