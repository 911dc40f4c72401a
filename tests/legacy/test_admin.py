"""Staff see where an imported member came from: legacy_id on the member list and page
(searchable), the import's fixes on the page, and the ledger itself."""

import pytest
from django.urls import reverse

from legacy.models import ImportedRow
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def test_it_shows_and_searches_legacy_id_on_the_member_list(imported, staff_client):
    heidi = imported[10]

    response = staff_client.get(reverse("admin:members_member_changelist"), {"q": "10"})

    assert response.status_code == 200
    assert "legacy_id" in response.context["cl"].list_display
    assert heidi in response.context["cl"].result_list


def test_it_shows_legacy_id_and_the_fixes_on_the_member_page(imported, staff_client):
    heidi = imported[10]

    response = staff_client.get(reverse("admin:members_member_change", args=[heidi.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Deep Harbor" in html
    assert "<li>identity.birthday: not an ISO date; left empty (was &#x27;n/a&#x27;)</li>" in html
    assert "forms.id_check_date: not an ISO date; left empty (was &#x27;last tuesday&#x27;)" in html


def test_it_escapes_the_fixes(imported, staff_client):
    row = ImportedRow.objects.get(legacy_id=1)
    row.detail = [{"field": "username", "value": "<script>x</script>", "fix": "<b>dropped</b>"}]
    row.save()

    response = staff_client.get(reverse("admin:members_member_change", args=[imported[1].pk]))

    html = response.content.decode()
    assert "<script>x</script>" not in html
    assert "<b>dropped</b>" not in html
    assert "&lt;b&gt;dropped&lt;/b&gt;" in html


def test_it_lists_and_searches_the_ledger_read_only(imported, staff_client):
    url = reverse("admin:legacy_importedrow_changelist")

    response = staff_client.get(url, {"q": "grace@example.org"})

    assert response.status_code == 200
    assert [r.legacy_id for r in response.context["cl"].result_list] == [9]
    assert staff_client.get(url, {"q": "19"}).context["cl"].result_list[0].legacy_id == 19
    row = ImportedRow.objects.get(legacy_id=9)
    page = staff_client.get(reverse("admin:legacy_importedrow_change", args=[row.pk]))
    assert page.status_code == 200
    assert "held by member #" in page.content.decode()
    assert staff_client.get(reverse("admin:legacy_importedrow_add")).status_code == 403
    delete = reverse("admin:legacy_importedrow_delete", args=[row.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert ImportedRow.objects.filter(pk=row.pk).exists()
