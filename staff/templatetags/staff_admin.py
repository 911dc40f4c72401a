from django import template

from staff.index_panel import todo_counts

register = template.Library()


@register.inclusion_tag("admin/_todo_panel.html", takes_context=True)
def todo_panel(context):
    """What needs staff, for the admin index: each app's registered counts
    (dhportal/needs_staff.py) that this user may see."""
    counts = todo_counts(context["request"].user)
    return {"counts": counts, "pending": sum(1 for c in counts if c.number)}
