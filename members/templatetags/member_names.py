"""`{% preferred_name user as name %}`: what pages and mails call a login's member
(Member.preferred_name: the preferred name, else the first name), "" without one.
For templates that get a User, not a Member (allauth's mails)."""

from django import template

register = template.Library()


@register.simple_tag
def preferred_name(user) -> str:
    member = getattr(user, "member", None) if getattr(user, "pk", None) else None
    return member.preferred_name if member is not None else ""
