"""Indexes for the email and username lookups (docs/shapes.md, "The canonical email and login names").

The project's own case-insensitive lookups filter on `lower(<column>)` with
`<column> <> ''` (members/lookups.py): Member and User already have such unique
indexes; allauth's address table gets one here. allauth's own lookups are exact
(`email = <lower-cased address>`): its address table has a plain index on email, the
User table gets one here (allauth falls back to `User.email` when no verified address
matches, e.g. on every failed login). RunSQL rather than model indexes: one table is
allauth's, and the User index serves allauth, not a model lookup.
"""

from django.db import migrations

INDEXES = [
    (
        "account_emailaddress_email_ci_idx",
        "account_emailaddress (lower(email)) WHERE email <> ''",
    ),
    ("members_user_email_idx", "members_user (email)"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0007_scrub_history_tokens"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {target}",
            f"DROP INDEX IF EXISTS {name}",
        )
        for name, target in INDEXES
    ]
