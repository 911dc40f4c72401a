"""Who may log in to which client (README, "Log in to other systems with the portal").

allauth keeps the clients (`allauth.idp.oidc.Client`) and their tokens; a client's
policy is here. A client without a policy row is treated as the defaults: active
members, no authorization required. The rule itself is SQL (identity/sql.py), so the
authorization page, the token endpoint and the triggers that delete tokens decide alike.
"""

from allauth.idp.oidc.models import Client
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from identity.sql import DEFAULT_STATUSES
from members.shapes import MemberStatus


def default_statuses() -> list[str]:
    return list(DEFAULT_STATUSES)


class ClientPolicy(models.Model):
    client = models.OneToOneField(
        Client, on_delete=models.CASCADE, primary_key=True, related_name="policy"
    )
    statuses = ArrayField(
        models.TextField(choices=MemberStatus.choices),
        default=default_statuses,
        help_text="Membership statuses that may log in to this client.",
    )
    requires = ArrayField(
        models.TextField(),
        default=list,
        blank=True,
        help_text="Authorizations a member must hold, every one of them, to log in.",
    )

    class Meta:
        verbose_name = "client policy"
        verbose_name_plural = "client policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(statuses__contained_by=MemberStatus.values),
                name="clientpolicy_statuses_known",
            ),
            models.CheckConstraint(
                condition=Q(statuses__len__gt=0), name="clientpolicy_statuses_not_empty"
            ),
        ]

    def __str__(self):
        return f"policy of {self.client.name}"

    @property
    def summary(self) -> str:
        statuses = ", ".join(self.statuses)
        requires = ", ".join(self.requires) or "nothing"
        return f"statuses {statuses}; requires {requires}"
