"""The member list's filters: completeness, membership status, onboarding, possible
duplicates and merged records."""

from django.contrib import admin
from django.db.models import Q

from members.merge import MERGED_AWAY_Q
from members.models import Member, MemberStatus
from members.partial import LABELS, MEMBERSHIP_STATUS, in_words, missing_q

# Duplicates still to be looked at: duplicate_of set, not merged away.
POSSIBLE_DUPLICATE_Q = Q(duplicate_of__isnull=False) & ~MERGED_AWAY_Q


class ScaffoldingFilter(admin.SimpleListFilter):
    """Complete, partial, or which piece is missing; the same expressions as
    Member.objects.partial() and its index, so the list uses member_partial_idx."""

    title = "completeness"
    parameter_name = "scaffolding"

    def lookups(self, request, model_admin):
        return [
            ("complete", "Complete"),
            ("partial", "Partial"),
            *[(f"missing_{label}", in_words(label).capitalize()) for label in LABELS],
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "complete":
            return queryset.complete()
        if value == "partial":
            return queryset.partial()
        if value and value.startswith("missing_"):
            label = value.removeprefix("missing_")
            if label in LABELS:
                return queryset.filter(missing_q(label))
        return queryset


class MembershipStatusFilter(admin.SimpleListFilter):
    title = "membership status"
    parameter_name = "membership"

    def lookups(self, request, model_admin):
        return [*MemberStatus.choices, ("none", "(none)")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in MemberStatus.values:
            return queryset.filter(status__membership_status__iexact=value)
        if value == "none":
            return queryset.filter(Q(status__isnull=True) | missing_q(MEMBERSHIP_STATUS))
        return queryset


class AwaitingActivationFilter(admin.SimpleListFilter):
    title = "onboarding"
    parameter_name = "onboarding"

    def lookups(self, request, model_admin):
        return [("awaiting", "Paid, awaiting activation")]

    def queryset(self, request, queryset):
        if self.value() == "awaiting":
            return queryset.awaiting_activation()
        return queryset


class PossibleDuplicatesFilter(admin.SimpleListFilter):
    """Members whose email or username another member already held at import or at
    the canonical-email migration (`duplicate_of` set), with their holders."""

    title = "possible duplicates"
    parameter_name = "duplicates"

    def lookups(self, request, model_admin):
        return [("yes", "duplicates and their holders"), ("only", "duplicates only")]

    def queryset(self, request, queryset):
        duplicates = Member.objects.filter(POSSIBLE_DUPLICATE_Q)
        if self.value() == "only":
            return queryset.filter(POSSIBLE_DUPLICATE_Q)
        if self.value() == "yes":
            holders = duplicates.values("duplicate_of_id")
            return queryset.filter(POSSIBLE_DUPLICATE_Q | Q(pk__in=holders))
        return queryset


class MergedFilter(admin.SimpleListFilter):
    """Records a merge emptied (`merged_into` set) are left out of the list unless
    staff ask for them: each is one person's old record, not a member of its own."""

    title = "merged records"
    parameter_name = "merged"

    def lookups(self, request, model_admin):
        return [("with", "Include merged records"), ("only", "Merged records only")]

    def queryset(self, request, queryset):
        if self.value() == "with":
            return queryset
        if self.value() == "only":
            return queryset.filter(MERGED_AWAY_Q)
        return queryset.exclude(MERGED_AWAY_Q)
