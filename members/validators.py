"""Validators of the member's own fields (username, billing reference, and the rules of
every field a member fills in: KEY_RULES), kept apart from the models so forms, shapes
and other apps use them without importing models."""

import datetime
import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.utils import timezone

USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_username_pattern = RegexValidator(
    USERNAME_RE, "Use 1 to 16 letters, digits, underscores or hyphens."
)
# The login name of a User whose member has no username (legacy rows, erased members).
PLACEHOLDER_RE = re.compile(r"^member-[0-9]+$", re.IGNORECASE)


def placeholder_username(member_id: int) -> str:
    """The placeholder login name (docs/shapes.md): never shown or used as a username."""
    return f"member-{member_id}"


def username_validator(value: str) -> None:
    """A member's username: the pattern, and never a placeholder login name, which
    the import, merges and erasure give to Users of members without a username."""
    _username_pattern(value)
    if PLACEHOLDER_RE.match(value):
        raise ValidationError(
            "Usernames of the form member-<number> are reserved.", code="reserved"
        )


# The member reference the payment page hands Stripe as client-reference-id and the
# webhook reads back. Random, so it reveals nothing and cannot be guessed from an id.
BILLING_REF_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


# --- the rules of the fields a member fills in ---------------------------------------
# Declared once here and applied by every form that writes these fields: signup's
# details, the dashboard's pages, and both of the admin's member forms (structured and
# raw JSON), so staff cannot save what the member could not, and the member is never
# left with a value their own page refuses. Each rule takes a non-empty value (whether
# a field may be empty is the form's business) and raises ValidationError with the
# sentence shown next to the field.

NAME_MAX_LENGTH = 100
PRONOUNS_MAX_LENGTH = 50
THEME_SONG_URL_MAX_LENGTH = 500
THEME_SONG_MIN_SECONDS, THEME_SONG_MAX_SECONDS = 1, 30
MIN_AGE = 18
PHONE_RE = re.compile(r"^[0-9() .+-]{1,20}$")
RFID_TAG_RE = re.compile(r"^[0-9]{1,10}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _text_rule(value, max_length: int) -> str:
    if not isinstance(value, str):
        raise ValidationError("Enter text.", code="text")
    if len(value) > max_length:
        raise ValidationError(f"Use at most {max_length} characters.", code="max_length")
    if _CONTROL_RE.search(value):
        raise ValidationError("Use letters and punctuation only, no control characters.")
    return value


def name_rule(value) -> None:
    """A first, last or preferred name."""
    _text_rule(value, NAME_MAX_LENGTH)


def pronouns_rule(value) -> None:
    _text_rule(value, PRONOUNS_MAX_LENGTH)


def years_between(born: datetime.date, today: datetime.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def birthday_rule(value) -> None:
    """A real date of birth (not in the future, not before 1900) of someone 18 or older.
    Takes a date or its stored "YYYY-MM-DD" text."""
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value)
        except ValueError:
            raise ValidationError("Enter a date as YYYY-MM-DD.", code="invalid") from None
    if not isinstance(value, datetime.date):
        raise ValidationError("Enter a date as YYYY-MM-DD.", code="invalid")
    today = timezone.localdate()
    if value > today or value.year < 1900:
        raise ValidationError("Enter a real date of birth.", code="birthday")
    if years_between(value, today) < MIN_AGE:
        raise ValidationError("You must be 18 or older to become a member.", code="age")


_HTTPS = URLValidator(schemes=["https"])


def theme_song_url_rule(value) -> None:
    """A theme song is an https:// link (never javascript:, data: or plain http)."""
    _text_rule(value, THEME_SONG_URL_MAX_LENGTH)
    try:
        _HTTPS(value)
    except ValidationError:
        raise ValidationError("Enter a valid https:// link.", code="https") from None


def theme_song_duration_rule(value) -> None:
    """Whole seconds, 1 to 30."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise ValidationError("Use whole seconds, 1 to 30.", code="whole")
    if not THEME_SONG_MIN_SECONDS <= value <= THEME_SONG_MAX_SECONDS:
        raise ValidationError("Use whole seconds, 1 to 30.", code="range")


def phone_rule(value) -> None:
    if (
        not isinstance(value, str)
        or not PHONE_RE.match(value)
        or not any(c.isdigit() for c in value)
    ):
        raise ValidationError(
            "Use up to 20 digits, spaces and the characters ( ) . + - only.", code="phone"
        )


def rfid_tag_rule(value) -> None:
    if not isinstance(value, str) or not RFID_TAG_RE.match(value.strip()):
        raise ValidationError(
            f"“{value}” is not an RFID tag: a tag number is 1 to 10 digits (0-9).", code="rfid"
        )


def _each_tag(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("RFID tags are a list.", code="list")
    for tag in value:
        rfid_tag_rule(tag)


# (column, key) of a member's JSON column -> its rule; `username` (a model field) has
# username_validator above.
KEY_RULES = {
    ("identity", "first_name"): name_rule,
    ("identity", "last_name"): name_rule,
    ("identity", "nickname"): name_rule,
    ("identity", "pronouns"): pronouns_rule,
    ("identity", "birthday"): birthday_rule,
    ("identity", "theme_song_url"): theme_song_url_rule,
    ("identity", "theme_song_duration"): theme_song_duration_rule,
    ("connections", "phone"): phone_rule,
    ("access", "rfid_tags"): _each_tag,
}


def key_error(column: str, key: str, value) -> str | None:
    """Why a key's new value breaks its rule, as one sentence, or None. An empty value
    (None, "", []) passes: clearing a key is allowed."""
    rule = KEY_RULES.get((column, key))
    if rule is None or value in (None, "", []):
        return None
    try:
        rule(value)
    except ValidationError as error:
        return " ".join(error.messages)
    return None


def column_errors(column: str, value, before) -> dict[str, str]:
    """The keys of a whole column value (the raw JSON view) whose rule refuses them, key
    -> sentence. Only keys that differ from `before` are checked, so a legacy value that
    predates a rule does not stop staff from editing the rest of the column."""
    if not isinstance(value, dict):
        return {}
    old = before if isinstance(before, dict) else {}
    errors = {}
    for (rule_column, key), _rule in KEY_RULES.items():
        if rule_column != column or key not in value or value[key] == old.get(key):
            continue
        new = value[key]
        if isinstance(new, list) and isinstance(old.get(key), list):
            new = [item for item in new if item not in old[key]]  # only the added items
        error = key_error(column, key, new)
        if error:
            errors[key] = error
    return errors
