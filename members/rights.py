"""Staff column rights: a view and a change permission on Member for each JSON column.

The README's "Staff roles" section says which group holds which; the permission
codenames are declared here once and used by the admin, the groups and the import.
"""

from members.shapes import COLUMNS


def view_codename(column: str) -> str:
    return f"view_{column}"


def change_codename(column: str) -> str:
    return f"change_{column}"


COLUMN_PERMISSIONS = [
    perm
    for column in COLUMNS
    for perm in (
        (view_codename(column), f"Can view {column}"),
        (change_codename(column), f"Can change {column}"),
    )
]


# The group whose members may grant every tool, trained on it or not (as superusers).
ADMINISTRATOR_GROUP = "Administrator"
