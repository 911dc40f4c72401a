import json

import pytest
from django.db import DataError, connection, transaction

from members.jsonb import unstorable


@pytest.mark.parametrize(
    "value",
    [
        "a\x00b",
        {"key\x00": 1},
        ["\ud800"],
        {"\udfff": "x"},
        float("nan"),
        [1.0, float("inf")],
    ],
)
@pytest.mark.django_db
def test_it_names_what_postgresql_would_refuse(value):
    assert unstorable(value)
    # The check is only worth having if PostgreSQL really refuses these.
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb", [json.dumps(value)])


def test_it_refuses_nesting_beyond_the_limit_without_recursing():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert unstorable(deep) == "is nested too deeply"
    assert unstorable([[[]]], max_depth=3) is None


@pytest.mark.django_db
def test_it_accepts_what_postgresql_stores():
    value = {"name": "Åsa 😀", "n": [1, 2.5, None, True], "nested": {"a": {"b": "c"}}}
    assert unstorable(value) is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb", [json.dumps(value)])
        assert json.loads(cursor.fetchone()[0]) == value
