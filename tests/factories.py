"""factory-boy factories. Users get a password hash computed once per run with
Django's default hasher, so tests stay fast without weakening the hasher."""

import datetime
import functools

import factory
from django.contrib.auth.hashers import make_password
from django.test import Client

from members import scaffolding
from members.erasure import erasure_request_open, member_erase
from members.models import Member, User

DEFAULT_PASSWORD = "correct-horse-battery-9"


@functools.cache
def _password_hash() -> str:
    return make_password(DEFAULT_PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    first_name = "Ada"
    last_name = "Lovelace"
    password = factory.LazyFunction(_password_hash)

    @factory.post_generation
    def verified_address(obj, create, extracted, **kwargs):
        if create and obj.email and extracted is not False:
            from allauth.account.models import EmailAddress

            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True
    username = factory.Sequence(lambda n: f"staff{n}")


def _identity(o):
    identity = scaffolding.default("identity")
    identity.update(
        first_name="Ada",
        last_name="Lovelace",
        birthday="1990-12-10",
        emails=[{"type": "primary", "email_address": o.email}],
    )
    return identity


def _status(o):
    status = scaffolding.default("status")
    status.update(membership_status=o.membership, member_since="2026-01-15")
    return status


class MemberFactory(factory.django.DjangoModelFactory):
    """A complete member with a login. `membership` sets status.membership_status;
    pass e.g. `notes=None` to make a partial member."""

    class Meta:
        model = Member
        exclude = ("membership",)

    class Params:
        membership = "active"

    user = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(lambda o: o.user.email if o.user else "legacy@example.org")
    username = factory.LazyAttribute(lambda o: o.user.username[:16] if o.user else "")
    identity = factory.LazyAttribute(_identity)
    status = factory.LazyAttribute(_status)
    connections = factory.LazyFunction(lambda: {"phone": "+1 555 0100", "discord_username": "ada"})
    forms = factory.LazyFunction(
        lambda: {
            **scaffolding.default("forms"),
            "terms_of_use_accepted": True,
            "terms_accepted_at": datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC).isoformat(),
        }
    )
    notes = factory.LazyFunction(lambda: scaffolding.default("notes"))
    access = factory.LazyFunction(lambda: scaffolding.default("access"))
    authorizations = factory.LazyFunction(lambda: scaffolding.default("authorizations"))
    extras = factory.LazyFunction(lambda: scaffolding.default("extras"))


def erased(member):
    """`member` erased as staff would (an erasure request, approved); the row re-read."""
    request, _ = erasure_request_open(member=member)
    member_erase(request=request, by=StaffFactory())
    return Member.objects.get(pk=member.pk)


def logged_in(user, **client_kwargs):
    """A new client of its own (its own session), logged in as the user."""
    client = Client(**client_kwargs)
    client.force_login(user)
    return client


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "billing.Plan"

    stripe_product_id = factory.Sequence(lambda n: f"prod_Factory{n:04d}")
    name = factory.Sequence(lambda n: f"Plan {n}")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "billing.Subscription"

    stripe_id = factory.Sequence(lambda n: f"sub_Factory{n:04d}")
    customer_id = factory.Sequence(lambda n: f"cus_Factory{n:04d}")
    status = "active"
    product_id = "prod_Factory0000"
    member = factory.SubFactory(MemberFactory)


class StripeEventFactory(factory.django.DjangoModelFactory):
    """A stored event as the webhook leaves it; `failed` so reprocess applies to it."""

    class Meta:
        model = "billing.StripeEvent"

    stripe_id = factory.Sequence(lambda n: f"evt_Factory{n:04d}")
    type = "customer.subscription.updated"
    created = factory.LazyFunction(lambda: datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC))
    payload = factory.LazyAttribute(lambda o: {"id": o.stripe_id, "type": o.type})
    state = "failed"
    error = "KeyError: 'items'"
    member = factory.SubFactory(MemberFactory)


class DoorEventFactory(factory.django.DjangoModelFactory):
    """A stored door event (as the API stores it, without its receipt); its month's
    partition is made first. `member` defaults to none (an unknown tag)."""

    class Meta:
        model = "integrations.DoorEvent"

    event_id = factory.Sequence(lambda n: f"ev-{n}")
    door = "front"
    tag = "0000099999"
    at = factory.LazyFunction(lambda: datetime.datetime.now(datetime.UTC))
    granted = True
    member = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from integrations.doors import ensure_partitions, forget_partitions, month_of

        # A month made inside an earlier test's transaction was rolled back with it.
        forget_partitions()
        ensure_partitions([month_of(kwargs["at"])])
        return super()._create(model_class, *args, **kwargs)
