"""Case-insensitive lookups of emails and usernames, written as the indexes are.

The unique indexes are `lower(<column>)` with `WHERE <column> <> ''` (docs/shapes.md), so a
lookup filters on the same `Lower(...)` expression and the same condition: PostgreSQL
then answers it from the index. `__iexact` compiles to `UPPER(...) = UPPER(...)`,
which no index serves (a sequential scan of the table on every signup and login).
"""

from django.db.models import Q, TextField, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact


def ci_equals(field: str, value) -> Q:
    """`lower(field) = lower(value) AND field <> ''`. A blank or non-text value matches
    nothing: `''` is "no address", shared by many rows and never anyone's."""
    if not isinstance(value, str) or not value:
        return Q(pk__in=[])
    same: Exact[str] = Exact(Lower(field), Lower(Value(value, output_field=TextField())))
    return Q(same) & ~Q(**{field: ""})


def email_addresses_with(email):
    """allauth's addresses (any user, verified or not) with this email, ignoring case."""
    # Imported here: members.models imports this module while the app registry loads.
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(ci_equals("email", email))
