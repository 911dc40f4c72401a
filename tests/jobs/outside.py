"""A task defined outside any app's tasks.py, as a mistake would define it: it works
when called in this process, which imported this module, and the worker never
imports it."""

from procrastinate.contrib.django import app


@app.task(name="tests.jobs.outside.shout")
def shout(text: str) -> str:
    return text.upper()
