"""The staff roles as groups with their rights, and a grant for every authorization name
members already hold (so the column, now derived from live grants, keeps them).

Codenames and names are frozen here (README "Staff roles"); permissions are made if
`migrate` has not made them yet, exactly as Django names them.
"""

from django.db import migrations

COLUMNS = (
    "identity", "status", "connections", "forms", "notes", "access", "authorizations", "extras",
)
GROUP_MODEL = ("auth", "group", "group")
USER_MODEL = ("members", "user", "user")
MEMBER = ("members", "member", "member")
CATALOG = ("members", "authorization", "authorization")
GRANT = ("members", "authorizationgrant", "authorization grant")
DOOR = ("integrations", "doorevent", "door event")


def _column(action, *columns):
    return [(MEMBER, f"{action}_{c}", f"Can {action} {c}") for c in columns]


def _model(model, *actions):
    return [(model, f"{a}_{model[1]}", f"Can {a} {model[2]}") for a in actions]


ACTIVATE = [(MEMBER, "activate_member", "Can activate a member")]
REPORTS = [(MEMBER, "view_reports", "Can view reports")]
MEMBERS_SEEN = _model(MEMBER, "view")
MEMBERS_EDITED = _model(MEMBER, "view", "change")

GROUPS = {
    "Administrator": [
        *MEMBERS_EDITED,
        *_column("view", *COLUMNS),
        *_column("change", *COLUMNS),
        *ACTIVATE,
        *REPORTS,
        *_model(CATALOG, "view", "add", "change"),
        *_model(GRANT, "view"),
        *_model(GROUP_MODEL, "view", "add", "change", "delete"),
        *_model(USER_MODEL, "view", "change"),
        *_model(DOOR, "view"),
    ],
    "Board": [
        *MEMBERS_EDITED,
        *_column("view", "identity", "status", "notes"),
        *_column("change", "status", "notes"),
        *_model(DOOR, "view"),
        *REPORTS,
    ],
    "Authorizer": [
        *MEMBERS_EDITED,
        *_column("view", "identity", "authorizations", "notes"),
        *_column("change", "authorizations", "notes"),
        *_model(CATALOG, "view"),
    ],
    "Onboarder": [
        *MEMBERS_EDITED,
        *_column("view", "identity", "status", "forms", "access"),
        *_column("change", "forms", "access"),
        *ACTIVATE,
    ],
    "Door logs": [
        *MEMBERS_SEEN,
        *_column("view", "identity"),
        *_model(DOOR, "view"),
    ],
}


def make_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    for name, rights in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for (app_label, model, _verbose), codename, label in rights:
            content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": label}
            )
            group.permissions.add(permission)


def drop_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


# Every name in a member's lists becomes a catalog entry (when missing) and a grant with
# no grantor; a name in both lists is granted once.
GRANTS_FROM_COLUMN = """
WITH held AS (
    SELECT m.id AS member_id, name.value AS name, list.kind
    FROM members_member m
    CROSS JOIN (VALUES ('authorizations', 'physical'), ('computer_authorizations', 'computer'))
        AS list(key, kind)
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(m.authorizations) = 'object'
              AND jsonb_typeof(m.authorizations -> list.key) = 'array'
             THEN (SELECT coalesce(jsonb_agg(e), '[]'::jsonb)
                   FROM jsonb_array_elements(m.authorizations -> list.key) e
                   WHERE jsonb_typeof(e) = 'string' AND length(e #>> '{}') BETWEEN 1 AND 100)
             ELSE '[]'::jsonb END
    ) AS name(value)
), catalog AS (
    INSERT INTO members_authorization (name, kind, retired)
    SELECT DISTINCT ON (name) name, kind, false FROM held ORDER BY name, kind DESC
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name
)
INSERT INTO members_authorizationgrant (member_id, authorization_id, granted_at, note)
SELECT DISTINCT h.member_id, a.id, now(), 'held before grants were recorded'
FROM held h
JOIN (SELECT id, name FROM catalog UNION SELECT id, name FROM members_authorization) a
  ON a.name = h.name
ON CONFLICT DO NOTHING;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0016_authorization_grants"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(make_groups, drop_groups),
        migrations.RunSQL(GRANTS_FROM_COLUMN, migrations.RunSQL.noop),
    ]
