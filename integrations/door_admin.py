"""The entry log in admin (Integrations › Door events) and "Who is here", for staff with
`integrations.view_doorevent`.

The log lists the newest events first, 100 a page, filtered by a range of days, door,
granted or refused, and matched or unknown tag, and searched by member name, number or
tag. A page never counts the whole table: the paginator counts at most COUNT_CAP rows
of the filtered list (the newest ones, through the time index), so a page costs the
same at a million events as at a thousand.
"""

from __future__ import annotations

import datetime
import functools

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters, ShowFacets
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from dhportal.adminkit import RecordAdmin
from integrations import doors
from integrations.models import DoorEvent
from members.models import Member
from members.rfid import rfid_tag_form
from members.search import member_search_q

COUNT_CAP = 10_000
# Doors offered by the door filter: those with an event this recently (counted once
# in a while, not on every page).
DOORS_SEEN_DAYS = 30
DOORS_CACHE_SECONDS = 600
# A word matching more members than this finds the events of the first ones only.
SEARCH_MEMBERS = 1000
VIEW_PERMISSION = "integrations.view_doorevent"
# What the entry log reads of the member: what Member.display_name is made of.
MEMBER_NAME_FIELDS = ("member__identity", "member__username", "member__email")


class CappedPaginator(Paginator):
    """Counts at most `cap` + 1 rows: pages past the cap are reached by narrowing the
    date range."""

    def __init__(self, *args, cap: int = COUNT_CAP, **kwargs):
        super().__init__(*args, **kwargs)
        self.cap = cap

    @cached_property
    def count(self) -> int:
        # A QuerySet sliced and counted: SELECT count(*) FROM (... LIMIT cap + 1).
        return self.object_list[: self.cap + 1].count()  # type: ignore[attr-defined]


# --- filters ------------------------------------------------------------------------


class DateRangeFilter(admin.ListFilter):
    """Events from one day to another (both included), in the site's time zone."""

    title = "date"
    template = "admin/integrations/doorevent/date_range_filter.html"
    FROM, TO = "from", "to"
    PRESETS = (("Today", 0), ("Last 7 days", 6), ("Last 30 days", 29))

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.form: dict = {}
        for name in (self.FROM, self.TO):
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = value[-1] if isinstance(value, list) else value

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.FROM, self.TO]

    def _day(self, name) -> datetime.date | None:
        value = str(self.used_parameters.get(name) or "").strip()
        if not value:
            return None
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise IncorrectLookupParameters(f"{name} is not a date (YYYY-MM-DD).") from None

    @staticmethod
    def _start(day: datetime.date) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))

    def queryset(self, request, queryset):
        first, last = self._day(self.FROM), self._day(self.TO)
        if first is not None:
            queryset = queryset.filter(at__gte=self._start(first))
        if last is not None:
            if last >= datetime.date.max:
                raise IncorrectLookupParameters("to is out of range.")
            queryset = queryset.filter(at__lt=self._start(last + datetime.timedelta(days=1)))
        return queryset

    def choices(self, changelist):
        # The template's form keeps the list's other parameters as hidden fields.
        self.form = {
            "keep": [
                (name, value)
                for name, value in changelist.params.items()
                if name not in (self.FROM, self.TO)
            ],
            "from": self.used_parameters.get(self.FROM, ""),
            "to": self.used_parameters.get(self.TO, ""),
        }
        today = timezone.localdate()
        current = (self.used_parameters.get(self.FROM), self.used_parameters.get(self.TO))
        yield {
            "selected": current == (None, None),
            "query_string": changelist.get_query_string(remove=[self.FROM, self.TO]),
            "display": "Any date",
        }
        for label, days in self.PRESETS:
            first = (today - datetime.timedelta(days=days)).isoformat()
            yield {
                "selected": current == (first, today.isoformat()),
                "query_string": changelist.get_query_string(
                    {self.FROM: first, self.TO: today.isoformat()}
                ),
                "display": label,
            }


def seen_doors() -> list[str]:
    key = "integrations:doors-seen"
    found = cache.get(key)
    if found is None:
        since = timezone.now() - datetime.timedelta(days=DOORS_SEEN_DAYS)
        found = sorted(
            DoorEvent.objects.filter(at__gte=since)
            .order_by()
            .values_list("door", flat=True)
            .distinct()[:100]
        )
        cache.set(key, found, DOORS_CACHE_SECONDS)
    return found


class DoorFilter(admin.SimpleListFilter):
    title = "door"
    parameter_name = "door"

    def lookups(self, request, model_admin):
        doors_ = seen_doors()
        chosen = self.value()
        if chosen and chosen not in doors_:
            doors_ = sorted([*doors_, chosen])
        return [(door, door) for door in doors_]

    def queryset(self, request, queryset):
        return queryset.filter(door=self.value()) if self.value() else queryset


class GrantedFilter(admin.SimpleListFilter):
    title = "granted or refused"
    parameter_name = "granted"

    def lookups(self, request, model_admin):
        return [("yes", "granted"), ("no", "refused")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(granted=self.value() == "yes")
        return queryset


class MatchedFilter(admin.SimpleListFilter):
    title = "member"
    parameter_name = "matched"

    def lookups(self, request, model_admin):
        return [("yes", "matched to a member"), ("no", "unknown tag (unmatched)")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(member__isnull=self.value() == "no")
        return queryset


def _search_condition(word: str) -> Q:
    """Events of the members the word finds (name, email, username, number, tag now
    held), and events whose tag is the word."""
    members = list(
        Member.objects.filter(member_search_q(word)).values_list("pk", flat=True)[:SEARCH_MEMBERS]
    )
    condition = Q(member_id__in=members)
    number = word.removeprefix("#")
    if number.isascii() and number.isdigit() and len(number) <= doors.MAX_TAG:
        condition |= Q(tag=rfid_tag_form(number))
    return condition


# --- the entry log --------------------------------------------------------------------


@functools.cache
def _change_url_parts(url_name: str, script_prefix: str) -> tuple[str, str]:
    """A change page's URL around its id, reversed once (reverse() costs a
    millisecond, too much for every row of a page of 100)."""
    url = reverse(url_name, args=[0])
    head, _, tail = url.rpartition("/0/")
    return f"{head}/", f"/{tail}"


def change_url(url_name: str, pk) -> str:
    head, tail = _change_url_parts(url_name, get_script_prefix())
    return f"{head}{pk}{tail}"


@admin.register(DoorEvent)
class DoorEventAdmin(RecordAdmin):
    list_display = ("when", "door", "result", "member_link", "tag", "source")
    # "when" links each row itself (Django would reverse a URL per row).
    list_display_links = None
    list_filter = (DateRangeFilter, DoorFilter, GrantedFilter, MatchedFilter)
    search_fields = ("tag",)  # the box; get_search_results does the searching
    search_help_text = "Member name, member number or RFID tag."
    ordering = ("-at", "-id")
    list_per_page = 100
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    count_cap = COUNT_CAP  # the pagination template says "more than" past it
    readonly_fields = (
        "at",
        "door",
        "result",
        "member_link",
        "tag",
        "source",
        "event_id",
        "received_at",
    )
    fields = readonly_fields
    change_list_template = "admin/integrations/doorevent/change_list.html"

    def get_queryset(self, request):
        # Of the member, only what their name is made of (their other JSON columns
        # would be decoded for nothing, a hundred times a page).
        own = [f.name for f in DoorEvent._meta.concrete_fields]
        return (
            super()
            .get_queryset(request)
            .select_related("member", "key")
            .only(*own, "key__name", *MEMBER_NAME_FIELDS)
        )

    @admin.display(description="time", ordering="at")
    def when(self, event):
        shown = timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M:%S")
        url = change_url("admin:integrations_doorevent_change", event.pk)
        return format_html('<a href="{}">{}</a>', url, shown)

    @admin.display(description="result", ordering="granted")
    def result(self, event):
        return "granted" if event.granted else "refused"

    @admin.display(description="member", ordering="member_id")
    def member_link(self, event):
        if event.member_id is None:
            return "unknown tag"
        member = event.member
        label = f"#{event.member_id} {member.display_name}" if member else f"#{event.member_id}"
        url = change_url("admin:members_member_change", event.member_id)
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="sent by")
    def source(self, event):
        if event.key_id is None:
            return "Deep Harbor"
        return event.key.name if event.key else f"key #{event.key_id}"

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return CappedPaginator(
            queryset, per_page, orphans, allow_empty_first_page, cap=self.count_cap
        )

    def get_search_results(self, request, queryset, search_term):
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            if bit.strip():
                queryset = queryset.filter(_search_condition(bit))
        return queryset, False

    def get_urls(self):
        return [
            path(
                "here/",
                self.admin_site.admin_view(self.here_view),
                name="integrations_doorevent_here",
            ),
            *super().get_urls(),
        ]

    def here_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        entries = list(doors.present())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Who is here",
            "entries": entries,
            "hours": doors.presence_hours(),
            "unknown": doors.unknown_granted_count(),
            "can_view_members": request.user.has_perm("members.view_member"),
        }
        return TemplateResponse(request, "admin/integrations/doorevent/here.html", context)


# --- the member's page and the admin index -------------------------------------------

MEMBER_ENTRIES = 20


def member_entries_panel(request, member) -> str:
    """The member's last entries, for their admin page; '' for staff without the
    right to see door events."""
    if member is None or not request.user.has_perm(VIEW_PERMISSION):
        return ""
    entries = list(member.door_events.order_by("-at", "-id")[:MEMBER_ENTRIES])
    log = reverse("admin:integrations_doorevent_changelist")
    return render_to_string(
        "admin/integrations/doorevent/member_entries.html",
        {"entries": entries, "all_url": f"{log}?member__id__exact={member.pk}"},
        request=request,
    )
