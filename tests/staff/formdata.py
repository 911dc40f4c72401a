"""What a browser would submit from a page's form: every input, select and textarea
of the form as the page drew it (checked boxes only, selected options), so tests post
exactly what staff would, changed only where the test changes it."""

import json
from html.parser import HTMLParser

from django.http import QueryDict

from members.models import Member
from members.shapes import COLUMNS


class _FormParser(HTMLParser):
    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self.disabled: set[str] = set()
        self._select = None
        self._select_multiple = False
        self._options: list[tuple[str, bool]] = []
        self._option = None
        self._textarea = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            self._input(name, a)
        elif tag == "select" and name:
            self._select = None if "disabled" in a else name
            if "disabled" in a:
                self.disabled.add(name)
            self._select_multiple = "multiple" in a
            self._options = []
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value"), "selected" in a, ""]
        elif tag == "textarea" and name:
            if "disabled" in a:
                self.disabled.add(name)
            else:
                self._textarea, self._text = name, ""

    def _input(self, name, a):
        if "disabled" in a:
            self.disabled.add(name)
            return
        kind = a.get("type", "text")
        if kind in ("checkbox", "radio"):
            if "checked" in a:
                self.fields.append((name, a.get("value", "on")))
        elif kind not in ("submit", "button", "file", "image", "reset"):
            self.fields.append((name, a.get("value", "")))

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data
        if self._option is not None:
            self._option[2] += data

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        if tag == "option" and self._option is not None:
            value = self._option[0] if self._option[0] is not None else self._option[2]
            self._options.append((value, self._option[1]))
            self._option = None
        if tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected]
            if not chosen and not self._select_multiple and self._options:
                chosen = [self._options[0][0]]
            self.fields += [(self._select, v) for v in chosen]
            self._select = None
        if tag == "textarea" and self._textarea is not None:
            # Browsers drop the newline that follows <textarea>.
            self.fields.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def form_fields(html: str, form_id: str = "member_form") -> tuple[QueryDict, set[str]]:
    """(what the form would submit, the names of its disabled fields)."""
    parser = _FormParser(form_id)
    parser.feed(html)
    data = QueryDict(mutable=True)
    for name, value in parser.fields:
        data.appendlist(name, value)
    return data, parser.disabled


def change_page_data(client, url: str, **changes) -> dict[str, list[str]]:
    """The member change form as the page drew it, with `changes` applied: a value
    replaces the field's, a list gives a multi-valued field, None removes the field
    (an unticked box)."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    data, _ = form_fields(response.content.decode())
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        elif isinstance(value, list):
            data.setlist(name, [str(v) for v in value])
        else:
            data[name] = str(value)
    data["_save"] = "Save"
    # The test client posts every value of a list (a QueryDict's items() gives one).
    return {name: data.getlist(name) for name in data}


def raw_page_data(member, **changes) -> dict[str, str]:
    """The raw JSON view's form (?advanced=1) as the page draws it for the stored row,
    with `changes` applied: a column's new value (JSON-encoded unless text), or `email`
    / `username`."""
    member = Member.objects.get(pk=member.pk)
    data = {"email": member.email, "username": member.username, "_save": "Save"}
    for column in COLUMNS:
        value = getattr(member, column)
        data[column] = data[f"initial-{column}"] = "" if value is None else json.dumps(value)
    for key, value in changes.items():
        data[key] = value if isinstance(value, str) else json.dumps(value)
    return data
