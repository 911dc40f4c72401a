import psycopg
from django.db import InterfaceError, OperationalError

# SQLSTATEs meaning the server is gone, shutting down, starting up or full. A failure
# on the client's side (refused, reset, closed) comes with no SQLSTATE at all.
_UNREACHABLE_SQLSTATES = ("57P01", "57P02", "57P03", "53300")


def database_unreachable(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised from or while handling, says the
    database cannot be reached, as opposed to refusing one query (a deadlock, a
    timeout, a constraint), which stays a plain 500."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (InterfaceError, psycopg.InterfaceError)):
            return True
        if isinstance(error, psycopg.OperationalError):
            sqlstate = error.sqlstate
            return (
                sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNREACHABLE_SQLSTATES
            )
        # Django's OperationalError wraps the driver's (its __cause__), which decides.
        if isinstance(error, OperationalError) and not isinstance(error.__cause__, psycopg.Error):
            return True
        error = error.__cause__ or error.__context__
    return False
