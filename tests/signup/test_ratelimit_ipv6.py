"""Signup's and the username check's per-address limits count an IPv6 client by its /64,
as allauth counts it; IPv4 as before; an IPv4 client seen through IPv6 as IPv4; and an
address that is no address never makes a 500."""

import uuid

import pytest
from django.test import Client, RequestFactory

from members.net import client_ip, rate_limit_key
from signup.tokens import make_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_signup(settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_ip": "1/3600"}


def signup(address=None, **extra):
    """Step 1 for a new email each time, so only the per-address limit can refuse it."""
    client = Client() if address is None else Client(REMOTE_ADDR=address)
    email = f"person-{uuid.uuid4().hex[:12]}@example.org"
    return client.post("/signup/", {"email": email}, **extra).status_code


def check_username(address):
    params = {"username": "free_name", "token": make_token("visitor@example.org")}
    return Client(REMOTE_ADDR=address).post("/api/check-username", params).status_code


def test_it_counts_two_addresses_of_one_ipv6_64_together(one_signup):
    assert signup("2001:db8:1:2::1") == 302
    assert signup("2001:db8:1:2:ffff:ffff:ffff:fffe") == 429
    # The same network written another way (zeros spelled out, upper case).
    assert signup("2001:0DB8:0001:0002:0000:0000:0000:0009") == 429


def test_it_counts_each_ipv6_64_on_its_own(one_signup):
    assert signup("2001:db8:1:2::1") == 302
    assert signup("2001:db8:1:3::1") == 302
    assert signup("2001:db8:2:2::1") == 302


def test_it_still_counts_each_ipv4_address_on_its_own(one_signup):
    assert signup("203.0.113.1") == 302
    assert signup("203.0.113.1") == 429
    assert signup("203.0.113.2") == 302


def test_it_counts_the_username_check_by_the_64_too(settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "check_username_ip": "2/60"}
    assert check_username("2001:db8:5:6::1") == 200
    assert check_username("2001:db8:5:6::2") == 200
    assert check_username("2001:db8:5:6:abcd::3") == 429
    assert check_username("2001:db8:5:7::1") == 200


def test_it_counts_a_forwarded_ipv6_client_by_its_64(one_signup, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    first = signup(HTTP_X_FORWARDED_FOR="2001:db8:9:9::1")
    bracketed = signup(HTTP_X_FORWARDED_FOR="[2001:db8:9:9::2]")
    other = signup(HTTP_X_FORWARDED_FOR="2001:db8:9:a::1")
    assert (first, bracketed, other) == (302, 429, 302)


def test_it_counts_an_ipv4_mapped_address_as_the_ipv4_client(one_signup):
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; their /64 is ::/64,
    # which would put every IPv4 client into one bucket.
    assert signup("::ffff:203.0.113.7") == 302
    assert signup("203.0.113.7") == 429
    assert signup("::ffff:203.0.113.8") == 302
    assert signup("203.0.113.9") == 302


def test_it_gives_allauth_the_ipv4_address_of_a_mapped_client(settings):
    factory = RequestFactory()
    assert client_ip(factory.get("/", REMOTE_ADDR="::ffff:192.0.2.1")) == "192.0.2.1"
    settings.TRUSTED_PROXY_COUNT = 1
    forwarded = factory.get("/", HTTP_X_FORWARDED_FOR="::ffff:192.0.2.2")
    assert client_ip(forwarded) == "192.0.2.2"


def test_it_takes_the_prefix_from_allauths_setting(settings):
    assert rate_limit_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    settings.ALLAUTH_RATE_LIMIT_IPV6_PREFIX = 48
    assert rate_limit_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1::/48"
    assert rate_limit_key("192.0.2.1") == "192.0.2.1"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "unknown",
        "not-an-address",
        "2001:db8::1%eth0",
        "fe80::1%25eth0",
        "[2001:db8::1]",
        "::ffff:999.1.1.1",
        "1.2.3.4.5",
        "01.2.3.4",
        "2001:db8::1/64",
        "\x00",
        "é" * 50,
        "1" * 5000,
    ],
)
def test_it_never_answers_a_malformed_address_with_a_500(one_signup, address):
    assert signup(address) in (302, 429)
    assert check_username(address) in (200, 429)


def test_it_counts_a_scoped_address_by_its_64(one_signup):
    assert signup("fe80::1%eth0") == 302
    assert signup("fe80::2%eth1") == 429


@pytest.mark.parametrize(
    "forwarded", ["garbage", "2001:db8::1%eth0", ", ,", "[::1", "2001:db8::/64", "\u2028"]
)
def test_it_never_answers_a_malformed_forwarded_address_with_a_500(one_signup, settings, forwarded):
    settings.TRUSTED_PROXY_COUNT = 1
    assert signup("198.51.100.1", HTTP_X_FORWARDED_FOR=forwarded) in (302, 429)
