"""Which members a word typed in a staff search box finds: the member list's search,
and the lists of other apps' rows about members (the entry log)."""

from collections.abc import Collection

from django.db.models import Q

from members.models import RfidTag
from members.rfid import rfid_tag_form
from members.shapes import COLUMNS


def is_member_number(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) < 2**63


def member_search_q(word: str, *, columns: Collection[str] = COLUMNS) -> Q:
    """Members whose name, email or username holds this word; a number also finds the
    member number, the Deep Harbor id and the RFID tag. `columns`: the columns the
    searcher may see (names, email and username are `identity`, tags `access`)."""
    condition = Q(pk__in=[])
    if "identity" in columns:
        condition = (
            Q(email__icontains=word)
            | Q(username__icontains=word)
            | Q(identity__first_name__icontains=word)
            | Q(identity__last_name__icontains=word)
            | Q(identity__nickname__icontains=word)
        )
    number = word.removeprefix("#")
    if number.isascii() and number.isdigit():
        if is_member_number(number):
            condition |= Q(pk=int(number))
        if int(number) < 2**31:  # a Deep Harbor id (legacy_id is an integer)
            condition |= Q(legacy_id=int(number))
        if len(number) <= 10 and "access" in columns:
            tagged = RfidTag.objects.filter(tag=rfid_tag_form(number)).values("member_id")
            condition |= Q(pk__in=tagged)
    return condition
