import ipaddress

from allauth import app_settings as allauth_settings
from django.conf import settings
from django.http import HttpRequest


def _unmapped(address: str) -> str:
    """An IPv4-mapped IPv6 address (::ffff:192.0.2.1, what a dual-stack socket reports
    for an IPv4 client) as the IPv4 address it is; any other text as given."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    mapped = getattr(parsed, "ipv4_mapped", None)
    return str(mapped) if mapped is not None else address


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address TRUSTED_PROXY_COUNT proxies deep in X-Forwarded-For.

    A header shorter than the proxy count, or an entry that is not an address, falls
    back to REMOTE_ADDR: it only makes a limit stricter, never a 500. An IPv4 client
    seen through IPv6 (::ffff:a.b.c.d) is its IPv4 address, for allauth's limits too.
    """
    remote = _unmapped(request.META.get("REMOTE_ADDR", "") or "unknown")
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = request.headers.get("x-forwarded-for", "")
    if count <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    if len(hops) < count:
        return remote
    try:
        return _unmapped(str(ipaddress.ip_address(hops[-count].strip("[]"))))
    except ValueError:
        return remote


def rate_limit_key(address: str) -> str:
    """What a per-address limit counts: an IPv4 address as is, an IPv6 address by its
    network (/64 unless ALLAUTH_RATE_LIMIT_IPV6_PREFIX says otherwise), as allauth
    counts it: one subscriber usually holds a whole /64 and could rotate through it.
    Text that is no address (REMOTE_ADDR as a test or a proxy set it) counts as itself.

    allauth's own helper for this is internal (allauth.core.internal), so it is
    written here once, from the same setting.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    prefix = allauth_settings.RATE_LIMIT_IPV6_PREFIX
    # From the integer, so a scope id (fe80::1%eth0) cannot upset the network parse.
    network = ipaddress.IPv6Network((int(parsed), prefix), strict=False)
    return str(network)
