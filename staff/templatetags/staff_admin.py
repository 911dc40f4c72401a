from django import template

from staff.index_panel import index_links, todo_counts

register = template.Library()


@register.inclusion_tag("admin/_todo_panel.html", takes_context=True)
def todo_panel(context):
    """What needs staff, for the admin index: each app's registered counts
    (dhportal/needs_staff.py) that this user may see."""
    user = context["request"].user
    counts = todo_counts(user)
    return {
        "counts": counts,
        "pending": sum(1 for c in counts if c.number),
        "links": index_links(user),
    }
