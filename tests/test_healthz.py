import pytest
from django.db import connection


@pytest.mark.django_db
def test_it_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_when_the_database_is_unreachable(client):
    connection.close()
    saved = dict(connection.settings_dict)
    # An address nothing listens on: the database is really unreachable.
    connection.settings_dict.update(HOST="127.0.0.1", PORT="9", OPTIONS={"connect_timeout": 2})
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["status"] != "ok"
