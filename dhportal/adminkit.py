from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpResponseRedirect
from pghistory.admin import EventsAdmin as PghistoryEventsAdmin

YEAR_TRANSFORMS = {"year", "iso_year"}
PATTERN_LOOKUPS = {"regex", "iregex"}


def _are_years(value) -> bool:
    """True when every comma-separated part of a query value is a year 1..9999."""
    try:
        return all(1 <= int(part) <= 9999 for part in str(value).split(","))
    except ValueError:
        return False


class SafeActionsMixin:
    """Refuse what Django's admin would answer with a 500: an action whose selection
    holds something that is not a primary key (staff get a message), and list queries
    that fail only inside the database (a 400)."""

    # Set by the ModelAdmin this is mixed into.
    model: type[Model]

    def lookup_allowed(self, lookup, value, request=None):
        # Django allows any lookup on a model's own fields. PostgreSQL refuses a NUL in
        # text (?email__exact=%00), and ?created__year=99999 (or 0) only raises
        # ValueError while the query is built.
        if "\x00" in str(value):
            return False
        # PostgreSQL checks a ?name__regex= pattern only when the query runs, so a
        # malformed one ("(") would be a 500; no list here links to pattern lookups.
        if PATTERN_LOOKUPS & set(lookup.split(LOOKUP_SEP)):
            return False
        if YEAR_TRANSFORMS & set(lookup.split(LOOKUP_SEP)) and not _are_years(value):
            return False
        return super().lookup_allowed(lookup, value, request)

    def response_action(self, request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(self._is_primary_key(value) for value in selected):
            name = self.model._meta.verbose_name
            self.message_user(
                request,
                f"The selection holds something that is not a {name} number; nothing was changed.",
                messages.WARNING,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def _is_primary_key(self, value) -> bool:
        pk_field = self.model._meta.pk
        try:
            pk = pk_field.to_python(value)
            pk_field.run_validators(pk)
        except (ValidationError, TypeError, ValueError, OverflowError):
            return False
        return not isinstance(pk, int) or pk > 0


class SafeModelAdmin(SafeActionsMixin, admin.ModelAdmin):
    pass


class EventsAdmin(SafeActionsMixin, PghistoryEventsAdmin):
    """The audit-event admin (settings.PGHISTORY_ADMIN_CLASS)."""

    def get_object(self, request, object_id, from_field=None):
        # Event ids are text, and PostgreSQL refuses a NUL in text: no such event.
        if "\x00" in object_id:
            return None
        return super().get_object(request, object_id, from_field)
