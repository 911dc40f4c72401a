import pytest
from django.contrib.auth.models import Permission

from members import shapes
from tests.factories import MemberFactory, StaffFactory, UserFactory

# Member text that would close a textarea and run a script if a page did not escape it.
XSS = "</textarea><script>alert(1)</script>"
XSS_ESCAPED = "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;"


def messages_of(response):
    """The texts of the messages shown on the page the response rendered."""
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def superuser():
    return StaffFactory()


def column_permissions(*actions: str) -> list[Permission]:
    """The column rights (members/rights.py) for these actions ("view", "change") on
    every JSON column."""
    codenames = [f"{action}_{column}" for action in actions for column in shapes.COLUMNS]
    return list(
        Permission.objects.filter(content_type__app_label="members", codename__in=codenames)
    )


@pytest.fixture
def viewer():
    """Staff with the view permission on members (every column) and nothing else."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_member"), *column_permissions("view")
    )
    return user


@pytest.fixture
def outsider():
    """A logged-in member who is not staff."""
    return MemberFactory().user


@pytest.fixture
def as_superuser(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def as_viewer(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def as_outsider(client, outsider):
    client.force_login(outsider)
    return client
