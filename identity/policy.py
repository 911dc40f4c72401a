"""Asking the rule of identity/sql.py from Python: may this login use this client now?"""

from django.db import connection

from identity.sql import FITS, MEMBER_TABLE


def may_use(*, user, client_id: str, lock: bool = False) -> bool:
    """Whether `user`'s member may log in to the client now: an active login whose
    member fits the client's policy (no member: no). With `lock`, the member row is
    share-locked until the transaction ends, so a change that would make it ineligible
    waits, and then finds (and deletes) what this transaction issued."""
    if user is None or not user.is_active:
        return False
    sql = f"SELECT {FITS}(m, %s) FROM {MEMBER_TABLE} AS m WHERE m.user_id = %s"  # noqa: S608
    if lock:
        sql += " FOR SHARE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [client_id, user.pk])
        row = cursor.fetchone()
    return bool(row and row[0])
