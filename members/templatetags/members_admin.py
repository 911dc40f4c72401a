from django import template

register = template.Library()


@register.inclusion_tag("admin/members/_partial_notice.html", takes_context=True)
def partial_members_notice(context):
    """The partial-members notice, for the member list."""
    from members.admin import partial_notice

    return partial_notice(context["request"])


@register.inclusion_tag("admin/_todo_panel.html", takes_context=True)
def todo_panel(context):
    """What needs staff, for the admin index: each app's registered counts
    (members/admin_index.py) that this user may see."""
    from members.admin_index import todo_counts

    counts = todo_counts(context["request"].user)
    return {"counts": counts, "pending": sum(1 for c in counts if c.number)}
