"""The migrations keep the capture SQL they install as text (a migration installs the
same thing whenever it runs), so a change to its generator, integrations/snapshot.py,
needs a new migration holding the new output."""

import difflib
import sys

from django.db.migrations.loader import MigrationLoader

from integrations.snapshot import capture_sql


def newest_capture_sql() -> tuple[str, str]:
    """(name, CAPTURE_SQL) of the newest integrations migration that installs it, in
    the order the migrations apply."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = graph.leaf_nodes("integrations")
    newest = None
    for app, name in graph.forwards_plan(leaf):
        module = sys.modules[type(graph.nodes[app, name]).__module__]
        if app == "integrations" and hasattr(module, "CAPTURE_SQL"):
            newest = (name, module.CAPTURE_SQL)
    assert newest is not None, "no integrations migration installs CAPTURE_SQL"
    return newest


def test_it_installs_the_capture_sql_the_generator_makes_today():
    name, installed = newest_capture_sql()
    generated = capture_sql()
    diff = "\n".join(
        difflib.unified_diff(
            installed.splitlines(),
            generated.splitlines(),
            f"integrations/migrations/{name}.py CAPTURE_SQL",
            "capture_sql()",
            lineterm="",
        )
    )
    assert installed == generated, (
        f"capture_sql() no longer generates what {name} installs: write a migration that "
        f"installs the new SQL (capture_sql()'s output as its CAPTURE_SQL).\n{diff}"
    )
