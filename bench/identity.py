"""Benchmark: the identity provider as a relying party meets it, served as `make serve`
serves the site (gunicorn, 2 workers, DEBUG off, HTTPS=false).

    .venv/bin/python bench/identity.py [--runs 60] [--port 8104]

Prints the p50 (and p95) of, one request at a time:
  * a whole code flow: the browser's authorization request (a logged-in member, a client
    that skips consent) answered with a code, the code exchanged at the token endpoint
    (PKCE S256), and userinfo with the new access token;
  * a refresh (the refresh token rotates, so each run uses the one the last gave);
for a confidential client (its secret checked against a password hash, as allauth stores
it) and for a public one (PKCE only), with /healthz measured in the same run, in turn
with the others, for the ratio.

Uses its own database, BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
dh_bench_identity), dropped and re-created each run. Asserts nothing beyond each step's
answer.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import _setup
from _setup import bench_environ, prepare_server, recreate_database, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOST = "127.0.0.1"
ADDRESS = "198.51.100.7"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/dh_bench_identity"
PASSWORD = "harbour-Lights-4471"
CALLBACK = "https://wiki.example.org/oidc/callback"


def signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def configure_env(port: int) -> dict:
    bench_environ(
        DEFAULT_DB,
        ALLOWED_HOSTS=HOST,
        SITE_URL=f"http://{HOST}:{port}",
        TRUSTED_PROXY_COUNT="1",
        IDP_OIDC_PRIVATE_KEY=signing_key(),
    )
    return os.environ.copy()


def make_rows():
    """A member with a login, and two clients that skip consent: (email, clients), where
    clients maps "confidential"/"public" to (client id, secret)."""
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password

    from identity.clients import client_create
    from members import scaffolding
    from members.models import Member, User

    user = User.objects.create(
        username="bench", email="bench@example.org", password=make_password(PASSWORD)
    )
    values = {c: scaffolding.default(c) for c in scaffolding.NULLABLE_COLUMNS}
    values["status"]["membership_status"] = "active"
    Member.objects.create(user=user, email=user.email, username="bench", **values)
    clients = {}
    for kind in ("confidential", "public"):
        client, secret = client_create(
            name=f"Wiki ({kind})",
            redirect_uris=[CALLBACK],
            public=kind == "public",
            skip_consent=True,
        )
        clients[kind] = (client.id, secret)
    return user.email, clients


def request(port, method, path, *, body=None, headers=None):
    status, answer_headers, data = _setup.request(
        HOST, port, method, path, address=ADDRESS, body=body, headers=headers
    )
    return status, answer_headers, data


def log_in(port, email) -> str:
    """The session cookie of a real login (one password hash, outside the timings)."""
    status, headers, body = request(port, "GET", "/accounts/login/")
    cookies = dict(re.findall(r"(csrftoken)=([^;]+)", headers.get("Set-Cookie", "")))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    form = urlencode({"login": email, "password": PASSWORD, "csrfmiddlewaretoken": token})
    status, headers, _ = request(
        port,
        "POST",
        "/accounts/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken']}",
        },
    )
    assert status == 302, status
    session = re.search(r"sessionid=([^;]+)", " ".join(headers.get_all("Set-Cookie")))
    return f"sessionid={session.group(1)}"


def _token_request(port, client_id, secret, fields):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if secret:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    else:
        fields = {**fields, "client_id": client_id}
    status, _, body = request(
        port, "POST", "/identity/o/api/token", body=urlencode(fields), headers=headers
    )
    assert status == 200, body[:300]
    return json.loads(body)


def code_flow(port, cookie, client_id, secret) -> dict:
    """authorize (a code), token (PKCE), userinfo; the tokens."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "openid email profile membership",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    status, headers, _ = request(
        port, "GET", f"/identity/o/authorize?{query}", headers={"Cookie": cookie}
    )
    assert status == 302, status
    code = parse_qs(urlsplit(headers["Location"]).query)["code"][0]
    tokens = _token_request(
        port,
        client_id,
        secret,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
    )
    status, _, body = request(
        port,
        "GET",
        "/identity/o/api/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert status == 200 and b"member_number" in body, body[:300]
    return tokens


def refresh(port, client_id, secret, refresh_token) -> dict:
    return _token_request(
        port, client_id, secret, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def healthz(port) -> None:
    status, _, _ = request(port, "GET", "/healthz")
    assert status == 200


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - start) * 1000, result


def p(values, q) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--port", type=int, default=8104)
    args = parser.parse_args()

    env = configure_env(args.port)
    recreate_database(env["DATABASE_URL"])
    prepare_server(env)
    email, clients = make_rows()
    server = start_gunicorn(env, HOST, args.port)
    try:
        cookie = log_in(args.port, email)
        times: dict[str, list[float]] = {"healthz": []}
        refresh_tokens = {}
        for kind, (client_id, secret) in clients.items():
            times[f"flow {kind}"], times[f"refresh {kind}"] = [], []
            # Warm up each worker's connection and the client's first lookups.
            refresh_tokens[kind] = code_flow(args.port, cookie, client_id, secret)["refresh_token"]
        for _ in range(args.runs):
            for kind, (client_id, secret) in clients.items():
                ms, _ = timed(code_flow, args.port, cookie, client_id, secret)
                times[f"flow {kind}"].append(ms)
                ms, tokens = timed(refresh, args.port, client_id, secret, refresh_tokens[kind])
                refresh_tokens[kind] = tokens["refresh_token"]
                times[f"refresh {kind}"].append(ms)
                ms, _ = timed(healthz, args.port)
                times["healthz"].append(ms)
    finally:
        server.terminate()
        server.wait(timeout=30)

    base = statistics.median(times["healthz"])
    print(f"gunicorn -w 2, DEBUG off, HTTPS=false; {args.runs} runs each, one request at a time")
    print(f"{'what':<24} {'p50 ms':>8} {'p95 ms':>8} {'p50 / healthz':>14}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<24} {median:8.1f} {p(values, 95):8.1f} {median / base:14.1f}")


if __name__ == "__main__":
    main()
