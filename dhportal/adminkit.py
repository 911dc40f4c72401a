import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import BadRequest, FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from pghistory import core as pghistory_core
from pghistory.admin import EventsAdmin as PghistoryEventsAdmin

YEAR_TRANSFORMS = {"year", "iso_year"}
PATTERN_LOOKUPS = {"regex", "iregex"}
# Lookups whose value is the field's own type (several of them for in and range).
VALUE_LOOKUPS = {"exact", "iexact", "gt", "gte", "lt", "lte", "in", "range"}
LIST_LOOKUPS = {"in", "range"}
# PostgreSQL takes a time zone offset of whole seconds below 16 hours; Python parses
# up to 23:59:59.999999 ("time zone displacement out of range" inside the database).
MAX_DB_OFFSET = datetime.timedelta(hours=16)

# What a model's _meta.get_field() answers.
ModelField = models.Field | models.ForeignObjectRel | GenericForeignKey


def _are_years(value: object) -> bool:
    """True when every comma-separated part of a query value is a year 1..9999."""
    try:
        return all(1 <= int(part) <= 9999 for part in str(value).split(","))
    except ValueError:
        return False


def _is_primary_key(model: type[models.Model], value: object) -> bool:
    """True when `value` is something the model's primary key can hold (a positive
    number for a numeric key); whether such a row exists is another question."""
    pk_field = model._meta.pk
    try:
        pk = pk_field.to_python(value)
        pk_field.run_validators(pk)
    except (ValidationError, TypeError, ValueError, OverflowError):
        return False
    return not isinstance(pk, int) or pk > 0


def _lookup_field(model: type[models.Model], lookup: str) -> tuple[ModelField | None, list[str]]:
    """The field a list lookup compares and the lookup names after it, following
    relations (user__date_joined__gte: User.date_joined, ["gte"])."""
    parts = lookup.split(LOOKUP_SEP)
    field: ModelField | None = None
    for index, part in enumerate(parts):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return field, parts[index:]
        # related_model is a class once the apps are loaded ("self" only before).
        if field.is_relation and isinstance(field.related_model, type):
            model = field.related_model
    return field, []


def _db_takes_datetimes(field: ModelField | None, rest: list[str], value: object) -> bool:
    """False when a datetime value would be refused by PostgreSQL only when the query
    runs (an offset the database cannot hold), which the admin would answer with a 500."""
    if not isinstance(field, models.DateTimeField) or not set(rest) <= VALUE_LOOKUPS:
        return True
    parts = str(value).split(",") if set(rest) & LIST_LOOKUPS else [str(value)]
    for part in parts:
        try:
            parsed = field.to_python(part.strip())
        except ValidationError:
            continue  # Django refuses it while building the query: the list's ?e=1 answer
        offset = parsed.utcoffset() if isinstance(parsed, datetime.datetime) else None
        if offset is not None and (abs(offset) >= MAX_DB_OFFSET or offset.microseconds):
            return False
    return True


if TYPE_CHECKING:
    # The mixin goes in front of a ModelAdmin (make_every_admin_safe builds such classes
    # at run time); the checker needs to know what its super() calls reach.
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


class SafeActionsMixin(_AdminBase):
    """Refuse what Django's admin would answer with a 500: an action whose selection
    holds something that is not a primary key (staff get a message), and list queries
    that fail only inside the database (a 400)."""

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        # A text primary key (allauth's OIDC clients) takes any id Django passes on,
        # and PostgreSQL refuses a NUL in it (…/%00/change/) inside the query: no row.
        if "\x00" in str(object_id):
            return None
        return super().get_object(request, object_id, from_field)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
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
        # ?date_added__gte=0001-01-01T00:00:00+23:59 parses in Python, then PostgreSQL
        # refuses the offset.
        if not _db_takes_datetimes(*_lookup_field(self.model, lookup), value):
            return False
        return super().lookup_allowed(lookup, value, request)

    def response_action(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> HttpResponse | None:
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(_is_primary_key(self.model, value) for value in selected):
            name = self.model._meta.verbose_name
            self.message_user(
                request,
                f"The selection holds something that is not a {name} number; nothing was changed.",
                messages.WARNING,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class SafeModelAdmin(SafeActionsMixin, admin.ModelAdmin):
    pass


class RecordAdmin(SafeModelAdmin):
    """A list of records the code writes (events, notifications, deliveries, ledgers):
    staff read them and use the admin's actions, never add, edit or delete a row."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


# The apps whose admins are machinery (the job queue, the raw audit-event tables): on the
# index only for superusers; other staff reach what they need from the "needs staff"
# panel's links, with their permissions.
MACHINERY_APPS = ("procrastinate", "pghistory")


class SuperusersIndexMixin:
    """Listed on the admin index only for superusers."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser


def hide_machinery(site: admin.AdminSite) -> None:
    """Keep MACHINERY_APPS' admins off the index for staff who are not superusers.
    Call once, after autodiscovery (dhportal/urls.py)."""
    for model in apps.get_models():
        if model._meta.app_label not in MACHINERY_APPS or not site.is_registered(model):
            continue
        _add_mixin(site, model, SuperusersIndexMixin)


def make_every_admin_safe(site: admin.AdminSite) -> None:
    """Give the admins other apps register (procrastinate's jobs, allauth's addresses,
    Django's groups) the same refusals as the project's own: their lists take the same
    query strings. Call once, after autodiscovery (dhportal/urls.py)."""
    for model in apps.get_models():
        if site.is_registered(model):
            _add_mixin(site, model, SafeActionsMixin)


def _add_mixin(site: admin.AdminSite, model: type[models.Model], mixin: type) -> None:
    """Register `model` again with its admin class under `mixin`, unless it has it."""
    cls = type(site.get_model_admin(model))
    if issubclass(cls, mixin):
        return
    site.unregister(model)
    site.register(model, type(cls.__name__, (mixin, cls), {"__module__": cls.__module__}))


def _model(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _event_models() -> list[Any]:
    # Each event model class has its own pgh_tracked_model, which no type declares.
    return pghistory_core.event_models()


def _event_subjects() -> set[type[models.Model]]:
    """The models an ?obj= filter can name: those the event models track or point to."""
    subjects: set[type[models.Model]] = set()
    for event_model in _event_models():
        subjects.add(event_model.pgh_tracked_model._meta.concrete_model)
        for field in event_model._meta.fields:
            if field.related_model is not None:
                subjects.add(field.related_model._meta.concrete_model)
    return subjects


class EventsAdmin(SafeActionsMixin, PghistoryEventsAdmin):
    """The audit-event admin (settings.PGHISTORY_ADMIN_CLASS).

    pghistory trusts its ?obj=<app.Model>:<pk> and ?event_model= filters and the event
    id in a change URL: a key the model cannot hold, a row that does not exist or a
    model that has no events raise inside it. Here they are a 400 or a 404, after the
    permission check (before it, the answer told anyone on staff whether a row exists)."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        self._check_obj_filter(request.GET.get("obj"))
        # ?event_model= names the event table to list; pghistory queries any model.
        event_model = request.GET.get("event_model")
        if event_model and _model(event_model) not in _event_models():
            raise BadRequest("No such event model.")
        return super().changelist_view(request, extra_context)

    def _check_obj_filter(self, value):
        if not value:
            return  # pghistory ignores an empty filter
        label, colon, pk = value.partition(":")
        if not colon:
            raise BadRequest("The object filter reads <app_label.Model>:<id>.")
        model = _model(label)
        if model is None or model._meta.concrete_model not in _event_subjects():
            raise Http404("No events can be about that model.")
        if "\x00" in pk or not _is_primary_key(model, pk):
            raise BadRequest(f"That is not a {model._meta.verbose_name} id.")
        if not model._base_manager.filter(pk=pk).exists():
            raise Http404(f"No such {model._meta.verbose_name}.")

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        # Event ids are text, and PostgreSQL refuses a NUL in text: no such event.
        if "\x00" in object_id:
            return None
        # An event id is <app_label.EventModel>:<id>; pghistory narrows its query to
        # whatever model the label names, and any model but an event model raises.
        model = _model(unquote(object_id).partition(":")[0])
        if model is not None and model not in _event_models():
            raise Http404("No such event.")
        return super().get_object(request, object_id, from_field)


def view_on_site(request: HttpRequest, content_type_id: str, object_id: str) -> HttpResponse:
    """Django's "view on site" redirect (admin/r/<content_type_id>/<object_id>/), for a
    row of a model that has a page on the site. Django's own view looks the row up
    first, whatever the model: a model without a table of its own (pghistory's events)
    or an id its key cannot hold raised there instead of answering 404."""
    if not _is_primary_key(ContentType, content_type_id):
        raise Http404("No such content type.")
    try:
        content_type = ContentType.objects.get_for_id(int(content_type_id))
    except ContentType.DoesNotExist:
        raise Http404("No such content type.") from None
    model = content_type.model_class()
    if model is None or not hasattr(model, "get_absolute_url"):
        raise Http404("Those rows have no page on the site.")
    if not _is_primary_key(model, object_id):
        raise Http404("No such row.")
    return shortcut(request, content_type_id, object_id)


# --- plan names, for the member admin's level choice ----------------------------------
# The billing app owns the plans; it tells the member admin their names through this
# hook (registered at its ready()), so neither app imports the other.

_PLAN_NAMES: list[Callable[[], list[str]]] = []


def register_plan_names(provider: Callable[[], list[str]]) -> None:
    if provider not in _PLAN_NAMES:
        _PLAN_NAMES.append(provider)


def plan_names() -> list[str]:
    names: list[str] = []
    for provider in _PLAN_NAMES:
        names += [n for n in provider() if isinstance(n, str) and n and n not in names]
    return names


# --- panels on the member's admin page ------------------------------------------------
# An app that keeps rows about a member shows them on the member's page through this
# hook (registered at its ready()): a function of (request, member) returning the
# panel's HTML, or '' for nothing (no rows, or a user without the right to see them).
# The staff app draws them below the form, knowing no other app's tables.

_MEMBER_PANELS: list[Callable] = []


def register_member_panel(panel: Callable) -> None:
    if panel not in _MEMBER_PANELS:
        _MEMBER_PANELS.append(panel)


def member_panels(request, member) -> list[str]:
    return [html for panel in _MEMBER_PANELS if (html := panel(request, member))]
