"""The migrations keep the SQL they install as text (a migration installs the same thing
whenever it runs), so a change to its generator needs a new migration holding the new
output: the capture trigger's (integrations/snapshot.py, CAPTURE_SQL) and the access
list version's (integrations/access_version.py, ACCESS_VERSION_SQL)."""

import difflib
import sys

from django.db.migrations.loader import MigrationLoader

from integrations.access_version import version_sql
from integrations.snapshot import capture_sql


def newest_capture_sql(constant: str = "CAPTURE_SQL") -> tuple[str, str]:
    """(name, its SQL) of the newest integrations migration that installs `constant`,
    in the order the migrations apply."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = graph.leaf_nodes("integrations")
    newest = None
    for app, name in graph.forwards_plan(leaf):
        module = sys.modules[type(graph.nodes[app, name]).__module__]
        if app == "integrations" and hasattr(module, constant):
            newest = (name, getattr(module, constant))
    assert newest is not None, f"no integrations migration installs {constant}"
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


def test_it_installs_the_access_version_sql_the_generator_makes_today():
    name, installed = newest_capture_sql("ACCESS_VERSION_SQL")
    assert installed == version_sql(), (
        f"version_sql() no longer generates what {name} installs: write a migration that"
        " installs the new SQL (version_sql()'s output as its ACCESS_VERSION_SQL)."
    )
