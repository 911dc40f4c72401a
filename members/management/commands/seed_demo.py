"""Demo data for development: members in every state, each with a login, and a
development superuser. Idempotent: existing demo rows are left as they are."""

import datetime
import secrets
from pathlib import Path

from allauth.account.models import EmailAddress
from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction

from dhportal import commands
from members import scaffolding, shapes
from members.audit import audit
from members.models import Member, User

DEMO_PASSWORD = "demo-member-pass"  # noqa: S105 - development data, printed on purpose
ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD_FILE = Path(settings.BASE_DIR) / ".data" / "dev-admin.txt"

# (username, first, last, membership_status or None for a NULL status, extra changes)
DEMO_MEMBERS = [
    ("pending_pat", "Pat", "Pending", "pending", {}),
    ("paid_paula", "Paula", "Paid", "pending", {"subscription_status": "active"}),
    ("active_ada", "Ada", "Active", "active", {"subscription_status": "active"}),
    ("lapsed_lee", "Lee", "Lapsed", "lapsed", {"subscription_status": "canceled"}),
    ("suspended_sam", "Sam", "Suspended", "suspended", {}),
    ("banned_bo", "Bo", "Banned", "banned", {}),
    ("legacy_lou", "Lou", "Legacy", None, {}),
    ("partial_pia", "Pia", "Partial", "pending", {"_null": ["notes", "access", "extras"]}),
]
# The demo plans (billing.Plan: Stripe product id -> name); subscribed demo members are on
# the first, so their level, like a paying member's after the webhook, is a plan name.
DEMO_PLANS = [
    ("prod_demo_standard", "Standard membership"),
    ("prod_demo_student", "Student membership"),
]


class Command(commands.Command):
    help = "Create demo members in every state and a development superuser (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="run even with DEBUG off (never in production)"
        )

    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates known logins; it runs only with DEBUG on.")
        with audit("command"), transaction.atomic():
            self._plans()
            created = [self._member(*spec) for spec in DEMO_MEMBERS]
            admin_password = self._admin()
        self._print(created, admin_password)

    def _plans(self):
        # Looked up by name, not imported: members never imports billing (the one-way
        # rule), and demo data is the one place that writes both apps' rows.
        if not apps.is_installed("billing"):
            return
        plan = apps.get_model("billing", "Plan")
        for product_id, name in DEMO_PLANS:
            plan.objects.get_or_create(stripe_product_id=product_id, defaults={"name": name})

    def _member(self, username, first, last, membership, changes):
        email = f"{username.replace('_', '.')}@example.org"
        if Member.objects.filter(email=email).exists():
            return (email, membership, False)
        user = User.objects.create_user(
            username=username, email=email, password=DEMO_PASSWORD, first_name=first, last_name=last
        )
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        identity = scaffolding.default("identity")
        identity.update(
            first_name=first,
            last_name=last,
            birthday="1990-05-17",
            emails=[{"type": "primary", "email_address": email}],
        )
        status = scaffolding.default("status")
        status.update(
            membership_status=membership,
            member_since=datetime.date.today().isoformat(),
            subscription_status=changes.get("subscription_status", ""),
        )
        if status["subscription_status"]:
            product_id, plan_name = DEMO_PLANS[0]
            renewal = datetime.date.today() + datetime.timedelta(days=30)
            status.update(
                membership_level=plan_name,
                stripe_product_id=product_id,
                renewal_date=renewal.isoformat(),
            )
        forms = scaffolding.default("forms")
        forms.update(terms_of_use_accepted=True, is_21_or_older=True)
        columns = {
            "status": status if membership else None,
            "connections": {"phone": "+1 555 0100", "discord_username": username},
            "forms": forms,
            "notes": [shapes.note_entry("Demo member", author="seed_demo")],
            "access": {"rfid_tags": []},
            "authorizations": scaffolding.default("authorizations"),
            "extras": scaffolding.default("extras"),
        }
        for column in changes.get("_null", []):
            columns[column] = None
        Member.objects.create(
            user=user, email=email, username=username, identity=identity, **columns
        )
        return (email, membership, True)

    def _admin(self):
        if User.objects.filter(email=ADMIN_EMAIL).exists():
            return None
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username="admin", email=ADMIN_EMAIL, password=password)
        EmailAddress.objects.create(user=user, email=ADMIN_EMAIL, verified=True, primary=True)
        ADMIN_PASSWORD_FILE.parent.mkdir(exist_ok=True)
        ADMIN_PASSWORD_FILE.write_text(f"{ADMIN_EMAIL} {password}\n")
        ADMIN_PASSWORD_FILE.chmod(0o600)
        return password

    def _print(self, created, admin_password):
        out = self.stdout
        out.write("")
        out.write(self.style.MIGRATE_HEADING("Development logins (DEBUG only)"))
        if admin_password:
            out.write(f"  admin:  {ADMIN_EMAIL}  password: {admin_password}")
            out.write(f"          (shown once; also kept in {ADMIN_PASSWORD_FILE})")
        else:
            out.write(f"  admin:  {ADMIN_EMAIL}  password: see {ADMIN_PASSWORD_FILE}")
        out.write(f"  demo members (password: {DEMO_PASSWORD}):")
        for email, membership, was_created in created:
            state = membership or "NULL status"
            note = "" if was_created else " (exists)"
            out.write(f"    {email:<28} {state}{note}")
        out.write("")
