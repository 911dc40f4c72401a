"""The base of the member admin's two forms (raw JSON and structured): the login fields,
saved by services.member_change_login, and optimistic locking. The page carries a
fingerprint of each column it showed; on save the row is locked and compared with
them, so a change someone made meanwhile is reported, not silently overwritten."""

import hashlib
import json
from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction

from members import shapes
from members.models import Member, normalize_email, stored_email
from members.services import login_clashes
from members.validators import username_validator

CONFLICT = (
    "Someone else changed {what} while you were editing it, so nothing was saved. "
    "Reload the page to see their change, then make yours again."
)
OUT_OF_DATE = (
    "This page is incomplete or out of date, so nothing was saved. "
    "Reload it and make your change again."
)

# What the page showed of a column cannot be told (no fingerprints, nothing shown).
ABSENT = object()


def column_version(value) -> str:
    """A short fingerprint of a stored value, to tell whether it changed since a page
    was drawn (JSON in one canonical spelling; lone surrogates escaped)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def member_versions(member) -> dict[str, str]:
    """The fingerprint of each JSON column and of the login (email and username)."""
    versions = {column: column_version(getattr(member, column)) for column in shapes.COLUMNS}
    versions["login"] = column_version([member.email, member.username])
    return versions


class LockedMemberForm(forms.ModelForm):
    """What both member forms share: the login fields and, on clean, the row locked and
    compared with what the page showed."""

    email = forms.EmailField(required=False, max_length=254)
    username = forms.CharField(required=False, max_length=16, validators=[username_validator])
    # The fingerprints of what the page showed (member_versions), as JSON.
    loaded = forms.CharField(required=False, widget=forms.HiddenInput)

    # Errors of a save that lost a race to a unique index, for the one re-display of
    # the form that follows it: MemberAdmin.get_form sets them on the form class it
    # makes for that request.
    lost_race: Mapping[str, str] = {}
    # The structured form's pages always carry fingerprints; the raw form can compare
    # what it showed in its hidden initial values instead.
    requires_versions = False

    class Meta:
        model = Member
        fields: tuple[str, ...] = ("email", "username")
        # Declared above and saved by services.member_change_login, not copied onto the
        # instance, so the model's own constraint checks leave them out: clean() names
        # the member that holds an email or username, and the unique indexes refuse a
        # race; Django's generic "constraint violated" message would only repeat it
        # less helpfully. The username's pattern is the field's validator.
        exclude = ("email", "username")  # noqa: DJ006 - fields lists what is edited

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Meta.exclude leaves these out of the instance's initial values; show them.
        for name in ("email", "username"):
            self.initial.setdefault(name, getattr(self.instance, name))
        if self.instance.pk:
            self.initial["loaded"] = json.dumps(member_versions(self.instance))
        # The row as it is now, locked (set by clean()).
        self.fresh = None

    def clean_email(self):
        email = self.cleaned_data.get("email") or ""
        # An edited address must have a canonical form (members/emails.py); one left as
        # it was keeps its stored text, so a legacy address email-validator refuses does
        # not stop staff editing the rest of the record.
        if email and "email" in self.changed_data:
            return normalize_email(email)
        return stored_email(email)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        email, username = cleaned.get("email", ""), cleaned.get("username", "")
        # No username is fine: the User keeps its placeholder login name.
        if self.instance.user_id and "email" in cleaned and not email:
            self.add_error("email", "A member with a login needs an email.")
        if "email" in cleaned and "username" in cleaned:
            clashes = login_clashes(member=self.instance, email=email, username=username)
            for field, message in clashes.items():
                self.add_error(field, message)
        for field, message in self.lost_race.items():
            if field in self.fields:
                self.add_error(field, message)
        if self.instance.pk and not self.errors:
            self._check_not_changed_meanwhile()
        return cleaned

    def edited_columns(self) -> dict[str, list[str]]:
        """Column -> the form fields that change it (subclasses)."""
        raise NotImplementedError

    def column_as_shown(self, column):
        """What the page showed of a column when there are no fingerprints."""
        return ABSENT

    def put_fresh_columns(self, member) -> None:
        """Give the instance the row's current columns (read under the lock), so the
        save builds on them, not on what was loaded before the lock."""
        if self.fresh is None:
            return
        for column in shapes.COLUMNS:
            setattr(member, column, getattr(self.fresh, column))

    # --- changed meanwhile? ---------------------------------------------------------

    def _lock(self):
        rows = Member.objects.filter(pk=self.instance.pk)
        # The admin saves in one transaction: the lock holds until the save commits,
        # so nothing can change the row between this check and the write.
        if transaction.get_connection().in_atomic_block:
            rows = rows.select_for_update()
        return rows.first()

    def _loaded_versions(self) -> dict | None:
        try:
            loaded = json.loads(self.data.get(self.add_prefix("loaded")) or "")
        except (TypeError, ValueError, RecursionError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def _check_not_changed_meanwhile(self) -> None:
        fresh = self._lock()
        if fresh is None:
            raise ValidationError("This member no longer exists.")
        self.fresh = fresh
        loaded = self._loaded_versions()
        now = member_versions(fresh)
        edited = dict(self.edited_columns())
        login_fields: list[str] = [f for f in ("email", "username") if f in self.changed_data]
        if login_fields:
            edited["login"] = login_fields
        if loaded is None and self.requires_versions:
            raise ValidationError(OUT_OF_DATE, code="out_of_date")
        for column, fields in edited.items():
            if loaded is not None:
                changed = loaded.get(column) != now[column]
            else:
                shown = self.column_as_shown(column)
                changed = shown is not ABSENT and shown != getattr(fresh, column)
            if not changed:
                continue
            what = "the login" if column == "login" else f"this member's {column}"
            message = CONFLICT.format(what=what)
            for field in fields:
                if field in self.fields:
                    self.add_error(field, message)
            self.add_error(None, message)
