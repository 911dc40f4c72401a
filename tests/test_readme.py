"""The README's production instructions name what the code handles."""

from pathlib import Path

from billing.webhook import HANDLERS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_it_lists_every_stripe_event_type_the_webhook_handles():
    production = README[README.index("## Running in production") :]
    missing = [event_type for event_type in HANDLERS if f"`{event_type}`" not in production]
    assert missing == []
