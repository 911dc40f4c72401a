"""The staff roles of the data migration (members/migrations/0015), for tests: the
groups as the migration makes them (idempotent, so a test after a flushing
`transaction=True` test still finds them), and staff users in them."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from tests.factories import UserFactory

ROLES_MIGRATION = importlib.import_module("members.migrations.0017_staff_roles_and_grants")
ROLE_NAMES = tuple(ROLES_MIGRATION.GROUPS)


def make_roles() -> dict[str, Group]:
    ROLES_MIGRATION.make_groups(apps, None)
    return {name: Group.objects.get(name=name) for name in ROLE_NAMES}


def staff_in(group: Group, **kwargs):
    """A staff login in this group (and nothing else)."""
    user = UserFactory(is_staff=True, **kwargs)
    user.groups.add(group)
    return user


@pytest.fixture
def roles(db) -> dict[str, Group]:
    return make_roles()
