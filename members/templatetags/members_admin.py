from django import template

register = template.Library()


@register.inclusion_tag("admin/members/_partial_notice.html", takes_context=True)
def partial_members_notice(context):
    """The partial-members notice, for the admin index."""
    from members.admin import partial_notice

    return partial_notice(context["request"])
