"""The project's own documents stay true to the code they describe."""

import re
import subprocess
from pathlib import Path

from members import shapes

ROOT = Path(__file__).resolve().parent.parent
SHAPES_DOC = (ROOT / "docs" / "shapes.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\b.*?(?=^## |\Z)", SHAPES_DOC, re.M | re.S)
    assert match, f"docs/shapes.md has no section for {title}"
    return match.group(0)


def test_it_documents_every_key_of_every_column():
    missing = [
        f"{column}.{key}"
        for column in shapes.COLUMNS
        for key in shapes.keys(column)
        if f"`{key}`" not in _section(column)
    ]
    assert missing == []


def test_it_points_code_comments_at_documents_in_the_repository():
    # Comments name the README or docs/, which travel with the code.
    tracked = subprocess.run(
        [
            "git",
            "grep",
            "-lE",
            r"DESIGN(\.md| §)",
            "--",
            "*.py",
            "*.html",
            "*.js",
            "Makefile",
            "*.toml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert tracked == []
