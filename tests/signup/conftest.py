import datetime

import pytest
from django.db import connection

from signup.tokens import make_token


def continue_url(email: str) -> str:
    return f"/signup/continue/{make_token(email)}/"


def valid_details(**overrides) -> dict:
    data = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "preferred_name": "Amazing Grace",
        "pronouns": "she/her",
        "birthday": "1990-05-01",
        "username": "ghopper",
        "phone": "+1 (555) 010-2000",
        "discord_username": "grace#1906",
        "password1": "cobol-Compiler-1959",
        "password2": "cobol-Compiler-1959",
        "accept_terms": "on",
    }
    data.update(overrides)
    return data


def years_ago(years: int, days: int = 0) -> str:
    today = datetime.date.today()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        then = today.replace(year=today.year - years, day=28)
    return (then + datetime.timedelta(days=days)).isoformat()


# PL/pgSQL RAISE arrives as psycopg.errors.RaiseException, a ProgrammingError.
def install_fault(*, when: str, name: str = "signup_test_fault") -> None:
    """A real database failure: a trigger on members_member that raises.

    `when` is the trigger's timing and condition, e.g.
    "BEFORE UPDATE ... WHEN (OLD.notes IS NULL AND NEW.notes IS NOT NULL)".
    Inside a test's transaction it disappears with the rollback.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$"
        )
        cursor.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {name}()")


def fail_when_filled(column: str) -> None:
    install_fault(
        name=f"signup_test_fault_{column}",
        when=(
            "BEFORE UPDATE ON members_member FOR EACH ROW "
            f"WHEN (OLD.{column} IS NULL AND NEW.{column} IS NOT NULL)"
        ),
    )


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_signup"
    settings.STRIPE_PRICING_TABLE_ID = "prctbl_signup"
    return settings
