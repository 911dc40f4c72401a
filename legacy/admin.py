"""The import ledger in admin: which Deep Harbor row became which member, and the fixes
the import made. Read-only: only the import, merges and erasure write it."""

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import smart_split, unescape_string_literal

from dhportal.adminkit import RecordAdmin
from legacy.models import ImportedRow

MAX_LEGACY_ID = 2**31 - 1


def fixes_html(fixes: list[str]):
    if not fixes:
        return "—"
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((f,) for f in fixes)))


@admin.register(ImportedRow)
class ImportedRowAdmin(RecordAdmin):
    # Never deleted: a ledger row is what keeps a merged-away or erased member from
    # coming back.
    list_display = ("legacy_id", "member_link", "outcome", "fix_count", "imported_at")
    list_filter = ("outcome", "imported_at")
    list_select_related = ("member",)
    # get_search_results does the searching; a search field makes the box appear.
    search_fields = ("legacy_id",)
    search_help_text = "Deep Harbor id, member number, email or username."
    ordering = ("legacy_id",)
    list_per_page = 100
    fields = ("legacy_id", "member_link", "outcome", "fix_list", "imported_at")
    readonly_fields = fields

    @admin.display(description="member", ordering="member")
    def member_link(self, row):
        if row.member is None:
            return "—"
        url = reverse("admin:members_member_change", args=[row.member.pk])
        return format_html('<a href="{}">{}</a>', url, str(row.member))

    @admin.display(description="fixes")
    def fix_count(self, row):
        return len(row.fixes)

    @admin.display(description="fixes")
    def fix_list(self, row):
        return fixes_html(row.fixes)

    def get_search_results(self, request, queryset, search_term):
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            condition = Q(member__email__icontains=bit) | Q(member__username__icontains=bit)
            number = bit.removeprefix("#")
            if number.isascii() and number.isdigit() and int(number) <= MAX_LEGACY_ID:
                condition |= Q(legacy_id=int(number)) | Q(member_id=int(number))
            queryset = queryset.filter(condition)
        return queryset, False
