"""The import ledger: one row per Deep Harbor member the import has taken."""

from django.db import models


class Outcome(models.TextChoices):
    IMPORTED = "imported", "Imported"
    # Set by a merge on the merged-away member's row, and by erasure: the ledger keeps
    # the legacy id, so a rerun never brings the member back.
    MERGED = "merged", "Merged"
    ERASED = "erased", "Erased"


class ImportedRow(models.Model):
    """A Deep Harbor `member` row taken by `import_deepharbor`. A rerun imports only
    legacy ids not here, and changes nothing else."""

    legacy_id = models.IntegerField("Deep Harbor id", unique=True)
    member = models.ForeignKey(
        "members.Member",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="imported_rows",
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.IMPORTED)
    # The values the import could not map as they were: [{"field", "value", "fix"}].
    detail = models.JSONField(default=list, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["legacy_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=Outcome.values), name="imported_row_outcome_valid"
            ),
        ]

    def __str__(self):
        return f"Deep Harbor #{self.legacy_id} ({self.outcome})"

    @property
    def fixes(self) -> list[str]:
        """The fixes as sentences, for staff."""
        if not isinstance(self.detail, list):
            return []
        return [fix_text(fix) for fix in self.detail if isinstance(fix, dict)]


def fix_text(fix: dict) -> str:
    """One fix as a sentence: `<field>: <fix> (was <value>)`."""
    text = f"{fix.get('field', '?')}: {fix.get('fix', '')}"
    if fix.get("value") not in (None, ""):
        text += f" (was {fix['value']!r})"
    return text
