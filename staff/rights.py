"""Column rights in the member admin: which JSON columns a staff user may see and change
(members.view_<column> / members.change_<column>; email and username go with
`identity`), applied to every path the member admin has: the list's columns, filters
and search, the change forms (fields hidden or read-only; a POST touching a column
without the right refused), the history, merge, activation and repair. README "Staff
roles" says which group holds which right."""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from members import shapes
from members.rights import change_codename, view_codename
from staff.keys import ADD_NOTE, SPEC_BY_NAME, fill_field

# The member list's columns, and the JSON column each one shows (None: no column's data).
LIST_COLUMN_NEEDS = {
    "name": "identity",
    "email": "identity",
    "username": "identity",
    "membership": "status",
    "subscription": "status",
}
# The list filters that read a column.
FILTER_NEEDS = {"membership": "status", "onboarding": "status"}

REFUSED = "You may not change {what}, so nothing was saved. Ask an administrator if you need to."


@dataclass(frozen=True)
class ColumnRights:
    view: frozenset[str]
    change: frozenset[str]

    def may_view(self, column: str | None) -> bool:
        return column is None or column in self.view

    def may_change(self, column: str | None) -> bool:
        return column is None or column in self.change

    @property
    def change_all(self) -> bool:
        return self.change >= set(shapes.COLUMNS)


def column_rights(user) -> ColumnRights:
    """The user's column rights (changing a column includes seeing it); computed once
    per user object, from Django's cached permission sets."""
    cached = getattr(user, "_column_rights", None)
    if cached is not None:
        return cached
    perms = user.get_all_permissions() if user.is_active else set()

    def has(codename: str) -> bool:
        return user.is_superuser or f"members.{codename}" in perms

    change = frozenset(c for c in shapes.COLUMNS if user.is_active and has(change_codename(c)))
    view = change | {c for c in shapes.COLUMNS if user.is_active and has(view_codename(c))}
    rights = ColumnRights(frozenset(view), change)
    user._column_rights = rights
    return rights


def field_column(name: str) -> str | None:
    """The JSON column a member form field (or a posted key) belongs to, or None."""
    name = name.removeprefix("initial-")
    if name in ("email", "username"):
        return "identity"
    if name in shapes.COLUMNS:
        return name
    if name == ADD_NOTE:
        return "notes"
    spec = SPEC_BY_NAME.get(name.removesuffix("__remove"))
    if spec is not None:
        return spec.column
    for column in shapes.NULLABLE_COLUMNS:
        if name == fill_field(column):
            return column
    return None


def _labels(columns: Iterable[str]) -> str:
    # The titles the change page gives the columns.
    return ", ".join(shapes.label(c).lower() for c in columns)


def restricted_form(form_class, user):
    """The member admin's form class for this user: fields of columns they may not change
    disabled (those they may not see are left out of the page by the fieldsets), and a
    POST naming any such field refused whole."""
    rights = column_rights(user)

    def __init__(self, *args, **kwargs):
        form_class.__init__(self, *args, **kwargs)
        for name, field in self.fields.items():
            if not rights.may_change(field_column(name)):
                field.disabled = True
        # The page's fingerprints (staff/locking.py) only of what the user may see.
        loaded = self.initial.get("loaded")
        if loaded:
            seen = {
                key: version
                for key, version in json.loads(loaded).items()
                if rights.may_view("identity" if key == "login" else key)
            }
            self.initial["loaded"] = json.dumps(seen)

    def clean(self):
        columns = {field_column(key) for key in self.data}
        touched = sorted(c for c in columns if c is not None and not rights.may_change(c))
        if touched:
            # Nothing is locked or compared: the whole save is refused.
            self.add_error(None, REFUSED.format(what=_labels(touched)))
            return self.cleaned_data
        return form_class.clean(self)

    return type(form_class)(
        form_class.__name__,
        (form_class,),
        {"__module__": __name__, "__init__": __init__, "clean": clean},
    )


def visible_fieldsets(fieldsets, user) -> list:
    """The change page's fieldsets without the fields of columns the user may not see
    (and without a fieldset left empty)."""
    rights = column_rights(user)
    shown = []
    for title, options in fieldsets:
        fields = [f for f in options["fields"] if rights.may_view(field_column(f))]
        if fields:
            shown.append((title, {**options, "fields": fields}))
    return shown


def list_display(columns: Iterable, user) -> list:
    rights = column_rights(user)
    return [c for c in columns if rights.may_view(LIST_COLUMN_NEEDS.get(c))]


def list_filters(filters: Iterable, user) -> list:
    rights = column_rights(user)
    return [
        f for f in filters if rights.may_view(FILTER_NEEDS.get(getattr(f, "parameter_name", "")))
    ]


def history_fields(fields: Iterable[str], user) -> tuple[str, ...]:
    """The history's fields the user may see (user_id goes with identity)."""
    rights = column_rights(user)
    return tuple(
        f for f in fields if rights.may_view("identity" if f == "user_id" else field_column(f))
    )


MERGE_REFUSED = "Merging needs the right to {what} every column of a member."


def require_merge_rights(request) -> None:
    """The merge page shows every column, so it needs the right to see them all; a
    merge moves every column, so posting one needs the right to change them all."""
    rights = column_rights(request.user)
    needed = rights.change if request.method == "POST" else rights.view
    if not needed >= set(shapes.COLUMNS):
        what = "change" if request.method == "POST" else "see"
        raise PermissionDenied(MERGE_REFUSED.format(what=what))
