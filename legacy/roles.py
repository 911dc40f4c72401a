"""Deep Harbor's staff roles, imported (README "Staff roles"): each role becomes the
group of the same name, its panel rights become the group's column rights, and each
member_to_role row makes the imported member a staff login in that group. A panel
dhportal does not know is reported and ignored, never guessed."""

from collections.abc import Callable

from django.contrib.auth.models import Group, Permission

from members.models import Member
from members.rights import change_codename, view_codename
from members.shapes import COLUMNS

# Deep Harbor's panels beyond the columns: the door log, and the roles themselves.
ENTRY = {"view": [("integrations", "view_doorevent")], "change": []}
ROLES = {
    "view": [("auth", "view_group")],
    "change": [("auth", "add_group"), ("auth", "change_group"), ("auth", "delete_group")],
}
# What a panel right also needs: the member admin itself.
MEMBER_ADMIN = {"view": ("members", "view_member"), "change": ("members", "change_member")}


def _panel_rights(action: str, panel: str) -> list[tuple[str, str]] | None:
    if panel in COLUMNS:
        codename = view_codename(panel) if action == "view" else change_codename(panel)
        return [("members", codename)]
    if panel == "entry":
        return ENTRY[action]
    if panel == "roles":
        return ROLES[action]
    return None


def _panel_codenames() -> set[tuple[str, str]]:
    every = {("members", view_codename(c)) for c in COLUMNS}
    every |= {("members", change_codename(c)) for c in COLUMNS}
    for rights in (ENTRY, ROLES):
        every |= {r for action in ("view", "change") for r in rights[action]}
    return every | set(MEMBER_ADMIN.values())


def _permissions(pairs) -> list[Permission]:
    found = []
    for app_label, codename in sorted(pairs):
        permission = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if permission is not None:
            found.append(permission)
    return found


def _role_group(role: dict, report: Callable[[str], None]) -> Group | None:
    name = role["name"].strip() if isinstance(role["name"], str) else ""
    if not name:
        report(f"role {role['id']}: no name; skipped")
        return None
    granted = role["permission"] if isinstance(role["permission"], dict) else {}
    wanted: set[tuple[str, str]] = set()
    for action in ("view", "change"):
        panels = granted.get(action)
        for panel in panels if isinstance(panels, list) else []:
            rights = _panel_rights(action, panel) if isinstance(panel, str) else None
            if rights is None:
                report(f"role {name}: unknown {action} panel {panel!r}; ignored")
                continue
            wanted.update(rights)
            wanted.add(MEMBER_ADMIN[action])
    group, _ = Group.objects.get_or_create(name=name[:150])
    # The panels set the panel rights; rights no panel speaks of (activation, reports,
    # the catalog) stay as staff or the roles migration set them.
    kept = [
        p
        for p in group.permissions.select_related("content_type")
        if (p.content_type.app_label, p.codename) not in _panel_codenames()
    ]
    group.permissions.set([*kept, *_permissions(wanted)])
    return group


def import_roles(roles: list[dict], member_roles: list[dict], report) -> int:
    """The roles as groups and their members as staff logins; returns how many imported
    members were made staff by this run."""
    groups = {role["id"]: g for role in roles if (g := _role_group(role, report)) is not None}
    made_staff = 0
    members = {
        m.legacy_id: m
        for m in Member.objects.filter(
            legacy_id__in={row["member_id"] for row in member_roles}
        ).select_related("user")
    }
    for row in member_roles:
        group = groups.get(row["role_id"])
        member = members.get(row["member_id"])
        if group is None:
            report(f"member_to_role: role {row['role_id']} not imported; skipped")
            continue
        if member is None:
            report(f"member_to_role: member {row['member_id']} not imported; no staff login")
            continue
        user = member.user
        if user is None:
            report(
                f"member_to_role: member {row['member_id']} has no login (no email); not made staff"
            )
            continue
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
            made_staff += 1
        user.groups.add(group)
    return made_staff
