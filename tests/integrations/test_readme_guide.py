"""The receiver's guide in the README: its signature check accepts what the portal
signs and refuses anything else."""

import re
import time
from pathlib import Path

from integrations.outbound import signature_header

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_verify():
    guide = README[README.index("**Verifying the signature.**") :]
    code = re.search(r"```python\n(.*?)```", guide, re.DOTALL).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the README's own snippet
    return namespace["verify"]


def test_it_accepts_what_the_portal_signs_and_nothing_else():
    verify = readme_verify()
    body = b'{"event_id":1,"member_id":2}'
    header = signature_header("s3cret-for-the-door", body)
    assert verify("s3cret-for-the-door", body, header)
    assert not verify("another-secret", body, header)
    assert not verify("s3cret-for-the-door", body + b" ", header)
    stale = signature_header("s3cret-for-the-door", body, timestamp=int(time.time()) - 3600)
    assert not verify("s3cret-for-the-door", body, stale)
