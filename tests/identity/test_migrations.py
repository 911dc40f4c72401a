"""The migrations keep the revocation SQL they install as text, so a change to its
generator, identity/sql.py, needs a new migration holding the new output."""

import difflib
import sys

from allauth.idp.oidc.models import Token
from django.db.migrations.loader import MigrationLoader

from identity import sql
from identity.models import ClientPolicy
from members.models import ErasureRequest, Member


def newest_revocation_sql() -> tuple[str, str]:
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = graph.leaf_nodes("identity")
    newest = None
    for app, name in graph.forwards_plan(leaf):
        module = sys.modules[type(graph.nodes[app, name]).__module__]
        if app == "identity" and hasattr(module, "REVOCATION_SQL"):
            newest = (name, module.REVOCATION_SQL)
    assert newest is not None, "no identity migration installs REVOCATION_SQL"
    return newest


def test_it_installs_the_revocation_sql_the_generator_makes_today():
    name, installed = newest_revocation_sql()
    generated = sql.revocation_sql()
    diff = "\n".join(
        difflib.unified_diff(
            installed.splitlines(),
            generated.splitlines(),
            f"identity/migrations/{name}.py REVOCATION_SQL",
            "revocation_sql()",
            lineterm="",
        )
    )
    assert installed == generated, (
        f"revocation_sql() no longer generates what {name} installs: write a migration that "
        f"installs the new SQL (revocation_sql()'s output as its REVOCATION_SQL).\n{diff}"
    )


def test_the_generator_names_the_tables_the_models_have():
    assert Member._meta.db_table == sql.MEMBER_TABLE
    assert ErasureRequest._meta.db_table == sql.ERASURE_TABLE
    assert ClientPolicy._meta.db_table == sql.POLICY_TABLE
    assert Token._meta.db_table == sql.TOKEN_TABLE
