"""The structured change page's layout: a fieldset per JSON column, with what the page
says about the column above its fields (missing, damaged, keys the shape does not
know, the notes)."""

from django.utils.html import format_html, format_html_join

from members import shapes
from staff.display import json_preview
from staff.keys import ADD_NOTE, KEY_SPECS, fill_field


def structured_fieldsets(member, *, can_fill: bool = True) -> list[tuple]:
    """The change page's fieldsets for the JSON columns, one per column, with what the
    page shows about it (missing, unknown keys, notes) in its description."""
    sets = []
    for column in shapes.COLUMNS:
        stored = getattr(member, column, None) if member is not None else None
        names = [spec.name for spec in KEY_SPECS[column]]
        if column in shapes.NULLABLE_COLUMNS and stored is None and can_fill:
            names.insert(0, fill_field(column))
        if column == "notes":
            names = [*names, ADD_NOTE]
        sets.append(
            (
                shapes.label(column),  # the column as staff call it
                {
                    "fields": names,
                    "description": column_description(column, stored),
                    "classes": (f"column-{column}",),
                },
            )
        )
    return sets


def column_description(column: str, stored):
    """What the page says above a column's fields: missing, damaged, keys the shape
    does not know (kept, read-only), and for notes the list, newest first. Member data
    goes through format_html, which escapes it."""
    parts = []
    if stored is None:
        if column in shapes.NULLABLE_COLUMNS:
            parts.append(
                format_html(
                    '<p class="column-missing"><strong>Not set up.</strong> {}</p>',
                    "Nothing is stored here yet. Tick “Fill with defaults”, or enter "
                    "values below, to set it up; otherwise it stays empty.",
                )
            )
    elif column == "notes":
        parts.append(_notes_list(stored))
    elif not isinstance(stored, dict):
        parts.append(
            format_html(
                '<p class="column-damaged errornote">{} <code class="json">{}</code></p>',
                "This column is not a JSON object, so it cannot be edited here; "
                "a superuser can repair it in the raw JSON view. Stored:",
                json_preview(stored),
            )
        )
    else:
        known = set(shapes.keys(column))
        unknown = [(k, json_preview(v)) for k, v in stored.items() if k not in known]
        if unknown:
            items = format_html_join(
                "", '<li><code>{}</code>: <code class="json">{}</code></li>', unknown
            )
            parts.append(
                format_html(
                    '<div class="unknown-keys"><p>{}</p><ul>{}</ul></div>',
                    "Kept as stored (keys this form does not know, read-only):",
                    items,
                )
            )
    return format_html_join("", "{}", ((p,) for p in parts)) if parts else None


def _notes_list(stored):
    notes = shapes.read("notes", stored)
    if notes is None:
        return format_html(
            '<p class="column-damaged errornote">{} <code class="json">{}</code></p>',
            "The notes are not a list; a superuser can repair them in the raw JSON view. Stored:",
            json_preview(stored),
        )
    if not notes:
        return format_html('<p class="notes-empty">{}</p>', "No notes yet.")
    rows = []
    for note in reversed(notes):  # newest first
        when = note.timestamp.strftime("%Y-%m-%d %H:%M") if note.timestamp else "(no time)"
        rows.append((when, note.from_ or "(unknown)", note.note or ""))
    items = format_html_join(
        "",
        '<li><span class="note-meta">{} · {}</span><div class="note-text">{}</div></li>',
        rows,
    )
    return format_html('<ol class="notes-list" reversed>{}</ol>', items)
