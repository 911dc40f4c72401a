"""Load benchmark: signups, dashboard views and signed Stripe webhooks at once.

    .venv/bin/python bench/load.py [--users 50] [--duration 60] [--ceiling-duration 15]

The server is what `make serve` runs (migrate, collectstatic, gunicorn dhportal.wsgi with
2 workers, DEBUG off, HTTPS=false) on 127.0.0.1:8103, with TRUSTED_PROXY_COUNT=1, a fresh
SECRET_KEY and STRIPE_WEBHOOK_SECRET, mail to a temporary filemail directory, its access
log written to a file with each request's worker time (gunicorn's %(D)s), and its own
database: BENCH_DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/dh_bench_load,
dropped and re-created at the start. CACHE_URL is Redis db 13 on 127.0.0.1:6379
(flushed at the start) when it answers, else local memory. The signup rate limits are
the production defaults.

The load comes from one asyncio process (stdlib streams, HTTP/1.1, a new connection per
request since gunicorn's sync workers close each one). Every virtual user (VU) sends its
own X-Forwarded-For address and has no think time: it starts its next task as soon as
the last one ends. A VU picks each task at random by weight (default 1:20:20):

  signup     GET /signup/, POST the email, GET /signup/sent/, GET the continue link
             (signed in this process with the server's SECRET_KEY, as the mail would
             carry it), POST the details (Django's password hash, about 280 ms of CPU),
             GET /signup/payment/. Each signup is a new visitor: fresh cookies, a unique
             email and its own address from 10.128.0.0/9 (one at a time per VU), so the
             per-address limit (20/3600) and the per-email one (5/3600) never trip.
  dashboard  GET /dashboard/, then the next of profile, keys, auths, storage and floof,
             as the seeded member the VU logged in as (allauth's login form, once per VU,
             before the measured window).
  webhook    one signed event (billing.simulate's payloads and its stripe.WebhookSignature
             signing helper) for the next seeded member in turn: checkout.session.completed,
             customer.subscription.created (active), then invoice.paid, subscription
             updated to past_due, invoice.payment_failed, updated to active, and again;
             no member has two events in flight at once.

Phases: the logins and a short warm-up (not measured); the ceiling candidates, GET
/healthz and GET / as anonymous visitors, each with the same VUs for --ceiling-duration
(the one with the higher throughput is the ceiling); the mix for --duration; the ceiling
view once more, so that a change in the machine's other load shows, and the ceiling is
the mean of its two runs. An error is any unexpected answer (a 4xx, a 429, a 5xx, a wrong
redirect, a webhook not answering 200) or a connection failure; the script exits 1 on
any error or if the database or the mail disagree with what the server answered.

Figures, per endpoint: requests and req/s inside the window, client-side latency
p50/p95/p99 (queueing for a worker included), errors, req/s as a fraction of the
ceiling's, and from the access log the worker time per request, its cost in ceiling
requests and the req/s the endpoint alone would sustain at that cost. Then the CPU
seconds of each phase from /proc: gunicorn, this database's PostgreSQL backends, Redis,
the load generator itself, and everything else on the machine.
"""

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import itertools
import math
import os
import random
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from _setup import fresh_redis, gunicorn_argv, prepare_server, recreate_database

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/dh_bench_load"
REDIS_URL = "redis://127.0.0.1:6379/13"
WORKERS = 2
PASSWORD = "harbour-Lights-4471"
PRODUCT = "prod_bench_load"
PLAN_NAME = "Standard membership"
SUBPAGES = ("profile", "keys", "auths", "storage", "floof")
WEBHOOK_URL = "/billing/stripe/webhook/"
CEILING_PATHS = ("/healthz", "/")
AGAIN = "ceiling again"
TIMEOUT = 60
CSRF_RE = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
# Each signup visitor's own address; the VUs' addresses are in 10.0.0.0/16.
VISITORS = ipaddress.ip_network("10.128.0.0/9")
ACCESS_LOG_FORMAT = "%({x-bench-id}i)s %(s)s %(D)s"
CLK_TCK = os.sysconf("SC_CLK_TCK")

SIGNUP_LABELS = (
    "GET /signup/",
    "POST /signup/",
    "GET /signup/sent/",
    "GET /signup/continue/<token>/",
    "POST /signup/continue/<token>/",
    "GET /signup/payment/",
)
DASHBOARD_LABELS = ("GET /dashboard/", *(f"GET /dashboard/{page}/" for page in SUBPAGES))
WEBHOOK_TYPES = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "invoice.paid",
    "invoice.payment_failed",
)
WEBHOOK_LABELS = tuple(f"webhook {kind}" for kind in WEBHOOK_TYPES)
# After the checkout and the subscription's creation, a member's events repeat this.
WEBHOOK_CYCLE = ("invoice_paid", "past_due", "invoice_failed", "active")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="virtual users (default 50)")
    parser.add_argument("--duration", type=float, default=60, help="mixed load, s (60)")
    parser.add_argument(
        "--ceiling-duration", type=float, default=15, help="each ceiling view, s (15)"
    )
    parser.add_argument(
        "--mix", default="1:20:20", help="task weights signup:dashboard:webhook (1:20:20)"
    )
    parser.add_argument("--members", type=int, default=100, help="seeded members (100)")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--seed", type=int, default=1, help="random seed of the task choice")
    args = parser.parse_args()
    try:
        weights = [float(w) for w in args.mix.split(":")]
    except ValueError:
        weights = []
    if len(weights) != 3 or min(weights) < 0 or sum(weights) <= 0:
        parser.error("--mix takes three weights, e.g. 1:20:20")
    args.weights = weights
    if args.users < 1 or args.members < 1:
        parser.error("--users and --members must be at least 1")
    return args


# --- the server -------------------------------------------------------------------------


def server_environ(args, database_url: str, workdir: Path, cache_url: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dhportal.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "STRIPE_WEBHOOK_SECRET": "whsec_bench_" + secrets.token_hex(16),
        "DEBUG": "off",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "TRUSTED_PROXY_COUNT": "1",
        "CACHE_URL": cache_url,
        "EMAIL_URL": f"filemail:///{workdir / 'mail'}",
    }


def start_gunicorn(env: dict, port: int, workdir: Path) -> subprocess.Popen:
    with open(workdir / "gunicorn.log", "wb") as log:
        server = subprocess.Popen(
            [
                *gunicorn_argv(HOST, port, WORKERS),
                "--access-logfile",
                str(workdir / "access.log"),
                "--access-logformat",
                ACCESS_LOG_FORMAT,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log_tail(workdir)
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            status, _, _ = asyncio.run(fetch(port, "GET", "/healthz", {}))
            if status == 200 and len(child_pids(server.pid)) == WORKERS:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    server.wait(timeout=30)
    log_tail(workdir)
    sys.exit(f"gunicorn did not answer on {HOST}:{port}")


def log_tail(workdir: Path) -> None:
    print("gunicorn log (last lines):")
    print("\n".join((workdir / "gunicorn.log").read_text().splitlines()[-30:]))


def seed_members(count: int) -> list:
    """Active members with logins (one shared password hash, computed once)."""
    import datetime

    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from billing.models import Plan
    from members import scaffolding
    from members.audit import audit
    from members.models import Member, User

    hashed = make_password(PASSWORD)
    today = datetime.date.today().isoformat()
    with audit("command"), transaction.atomic():
        Plan.objects.create(stripe_product_id=PRODUCT, name=PLAN_NAME)
        users = User.objects.bulk_create(
            User(
                username=f"seed{i}",
                email=f"seed{i}@example.org",
                password=hashed,
                first_name="Seed",
                last_name=f"Member{i}",
            )
            for i in range(count)
        )
        EmailAddress.objects.bulk_create(
            EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in users
        )
        members = []
        for user in users:
            identity = scaffolding.default("identity")
            identity.update(
                first_name=user.first_name,
                last_name=user.last_name,
                birthday="1990-05-17",
                emails=[{"type": "primary", "email_address": user.email}],
            )
            status = scaffolding.default("status")
            status.update(membership_status="active", member_since=today)
            forms = scaffolding.default("forms")
            forms.update(terms_of_use_accepted=True, is_21_or_older=True)
            columns = {c: scaffolding.default(c) for c in scaffolding.NULLABLE_COLUMNS}
            columns.update(
                status=status,
                forms=forms,
                connections={"phone": "+1 555 0100", "discord_username": user.username},
            )
            members.append(
                Member(
                    user=user,
                    email=user.email,
                    username=user.username,
                    identity=identity,
                    **columns,
                )
            )
        return Member.objects.bulk_create(members)


def child_pids(parent: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(entry.name))
    return pids


# --- CPU accounting from /proc ---------------------------------------------------------


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds per group of processes over a phase. Processes are sampled every
    second, so a PostgreSQL backend that exits mid-phase loses at most its last second."""

    GROUPS = ("gunicorn", "postgres", "redis")

    def __init__(self, server_pid: int, database: str):
        self.server_pid, self.database = server_pid, database
        self.first, self.last = {}, {}

    def _scan(self) -> dict:
        found = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = Path(entry.path, "stat").read_text()
                comm = stat[stat.index("(") + 1 : stat.rindex(")")]
                rest = stat.rsplit(")", 1)[1].split()
                group = None
                if pid == self.server_pid or int(rest[1]) == self.server_pid:
                    group = "gunicorn"
                elif comm == "postgres":
                    cmdline = Path(entry.path, "cmdline").read_bytes()
                    if f" {self.database} ".encode() in cmdline:
                        group = "postgres"
                elif comm == "redis-server":
                    group = "redis"
            except (OSError, ValueError, IndexError):
                continue
            if group:
                found[pid] = (group, int(rest[11]) + int(rest[12]))
        return found

    def begin(self):
        self.first = {pid: j for pid, (_, j) in self._scan().items()}
        self.last = {}
        self.groups = {}
        self.machine0, self.own0, self.t0 = machine_jiffies(), own_cpu(), time.perf_counter()
        self.sample()

    def sample(self):
        for pid, (group, jiffies) in self._scan().items():
            self.groups[pid] = group
            self.last[pid] = jiffies

    def end(self) -> dict:
        self.sample()
        busy, total = machine_jiffies()
        seconds = {g: 0.0 for g in self.GROUPS}
        for pid, jiffies in self.last.items():
            seconds[self.groups[pid]] += (jiffies - self.first.get(pid, 0)) / CLK_TCK
        seconds["generator"] = own_cpu() - self.own0
        seconds["machine"] = (busy - self.machine0[0]) / CLK_TCK
        seconds["capacity"] = (total - self.machine0[1]) / CLK_TCK
        seconds["wall"] = time.perf_counter() - self.t0
        return seconds


# --- HTTP over asyncio streams -----------------------------------------------------------


async def fetch(port: int, method: str, path: str, headers: dict, body: bytes = b""):
    """One request on its own connection: (status, headers as (name, value), body)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        answer = [tuple(p.strip() for p in line.split(":", 1)) for line in head[1:] if line]
        fields = {name.lower(): value for name, value in answer}
        if "content-length" in fields:
            content = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            content = b""
            while size := int((await reader.readline()).split(b";")[0], 16):
                content += await reader.readexactly(size)
                await reader.readexactly(2)
        else:
            content = await reader.read()
        return status, answer, content
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def update_cookies(jar: dict, answer) -> None:
    for name, value in answer:
        if name.lower() != "set-cookie":
            continue
        pair, _, attributes = value.partition(";")
        key, _, cookie = pair.partition("=")
        if not cookie or "max-age=0" in attributes.lower().replace(" ", ""):
            jar.pop(key.strip(), None)
        else:
            jar[key.strip()] = cookie.strip()


class WindowClosed(Exception):
    """The phase is over: the VU starts no new request."""


class Failed(Exception):
    """A request got an unexpected answer (already recorded as an error)."""


@dataclass
class Record:
    phase: str
    label: str
    start: float
    end: float
    status: int | None
    ok: bool
    rid: int
    detail: str = ""


@dataclass
class Phase:
    name: str
    start: float
    deadline: float
    duration: float | None
    end: float = 0.0
    cpu: dict = field(default_factory=dict)


class Bench:
    def __init__(self, args, members, run: str):
        from django.conf import settings

        self.args, self.run = args, run
        self.port = args.port
        self.secret = settings.STRIPE_WEBHOOK_SECRET
        self.records: list[Record] = []
        self.ids = itertools.count(1)
        self.signups = itertools.count()
        self.phase: Phase | None = None
        self.phases: dict[str, Phase] = {}
        self.members = members
        self.stripe = asyncio.Queue()
        for index, member in enumerate(members):
            self.stripe.put_nowait(StripeMember(member, index))

    def counted(self, phase: str) -> int:
        """Requests of a phase answered as expected inside its window."""
        deadline = self.phases[phase].deadline
        return sum(r.ok and r.end <= deadline for r in self.records if r.phase == phase)

    def closed(self) -> bool:
        return time.perf_counter() >= self.phase.deadline

    async def run_phase(self, name, duration, task, vus, meter):
        meter.begin()
        start = time.perf_counter()
        deadline = start + duration if duration else math.inf
        self.phase = Phase(name, start, deadline, duration)
        sampler = asyncio.create_task(sample_every_second(meter))
        await asyncio.gather(*(task(vu) for vu in vus))
        sampler.cancel()
        self.phase.end = time.perf_counter()
        self.phase.cpu = meter.end()
        self.phases[name] = self.phase


async def sample_every_second(meter):
    while True:
        await asyncio.sleep(1)
        meter.sample()


class StripeMember:
    """One seeded member's Stripe history, event by event."""

    def __init__(self, member, index: int):
        self.member = member
        self.customer, self.subscription = f"cus_load{index}", f"sub_load{index}"
        self.step, self.created = 0, 0

    def next_event(self) -> dict:
        from billing import simulate

        created = max(int(time.time()), self.created + 1)
        self.created, step = created, self.step
        self.step += 1
        ids = {"customer_id": self.customer, "subscription_id": self.subscription}
        if step == 0:
            obj = simulate.checkout_session(self.member, created=created, **ids)
            return simulate.event("checkout.session.completed", obj, created=created)
        name = "active" if step == 1 else WEBHOOK_CYCLE[(step - 2) % len(WEBHOOK_CYCLE)]
        if name.startswith("invoice"):
            paid = name == "invoice_paid"
            obj = simulate.invoice(email=self.member.email, paid=paid, created=created, **ids)
            kind = "invoice.paid" if paid else "invoice.payment_failed"
            return simulate.event(kind, obj, created=created)
        obj = simulate.subscription(status=name, product_id=PRODUCT, created=created, **ids)
        kind = "created" if step == 1 else "updated"
        return simulate.event(f"customer.subscription.{kind}", obj, created=created)


class VirtualUser:
    def __init__(self, bench: Bench, index: int):
        self.bench, self.index = bench, index
        self.address = f"10.0.{index // 250}.{index % 250 + 1}"
        self.member = bench.members[index % len(bench.members)]
        self.cookies: dict = {}
        self.page = index
        self.rng = random.Random(bench.args.seed * 100_003 + index)

    async def request(
        self,
        label,
        method,
        path,
        expect,
        *,
        jar=None,
        address=None,
        form=None,
        body=b"",
        headers=(),
        has_form=False,
    ):
        """Send one request; record it; raise Failed unless the answer is `expect`
        (a status, or (302, where it must point)) and, with has_form, holds a form."""
        bench = self.bench
        if bench.closed():
            raise WindowClosed
        jar = self.cookies if jar is None else jar
        rid = next(bench.ids)
        headers = {
            "X-Forwarded-For": address or self.address,
            "X-Bench-Id": str(rid),
            **dict(headers),
        }
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if form is not None:
            headers.update(FORM_HEADERS)
            body = urlencode(form).encode()
        start = time.perf_counter()
        try:
            status, answer, content = await asyncio.wait_for(
                fetch(bench.port, method, path, headers, body), TIMEOUT
            )
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as error:
            detail = f"{type(error).__name__}: {error}"
            await asyncio.sleep(0.1)  # a server that is gone must not be hammered in a loop
            bench.records.append(
                Record(
                    bench.phase.name, label, start, time.perf_counter(), None, False, rid, detail
                )
            )
            raise Failed from None
        end = time.perf_counter()
        update_cookies(jar, answer)
        status_wanted, location = expect if isinstance(expect, tuple) else (expect, None)
        where = next((v for k, v in answer if k.lower() == "location"), "")
        ok = status == status_wanted and (location is None or where.startswith(location))
        if has_form and not CSRF_RE.search(content):
            ok = False
        title = re.search(rb"<title>([^<]*)</title>", content)
        detail = "" if ok else f"{where} {(title.group(1) if title else content[:120])!r}"
        bench.records.append(Record(bench.phase.name, label, start, end, status, ok, rid, detail))
        if not ok:
            raise Failed
        return content

    async def form_token(self, label, path, jar=None, address=None) -> str:
        content = await self.request(
            label, "GET", path, 200, jar=jar, address=address, has_form=True
        )
        return CSRF_RE.search(content).group(1).decode()

    # Tasks

    async def login(self):
        token = await self.form_token("GET /accounts/login/", "/accounts/login/")
        form = {"csrfmiddlewaretoken": token, "login": self.member.email, "password": PASSWORD}
        await self.request(
            "POST /accounts/login/", "POST", "/accounts/login/", (302, "/dashboard/"), form=form
        )

    async def signup(self):
        from signup.tokens import make_token

        n = next(self.bench.signups)
        jar, address = {}, str(VISITORS[n + 1])
        email = f"load-{self.bench.run}-{n}@example.org"
        token = await self.form_token("GET /signup/", "/signup/", jar, address)
        form = {"csrfmiddlewaretoken": token, "email": email}
        await self.request(
            "POST /signup/",
            "POST",
            "/signup/",
            (302, "/signup/sent/"),
            jar=jar,
            address=address,
            form=form,
        )
        await self.request(
            "GET /signup/sent/", "GET", "/signup/sent/", 200, jar=jar, address=address
        )
        link = f"/signup/continue/{make_token(email)}/"
        token = await self.form_token("GET /signup/continue/<token>/", link, jar, address)
        form = {
            "csrfmiddlewaretoken": token,
            "first_name": "Load",
            "last_name": f"Visitor{n}",
            "birthday": "1990-01-01",
            "username": f"l{self.bench.run}{n:x}",
            "phone": "+1 555 0100",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "accept_terms": "on",
        }
        await self.request(
            "POST /signup/continue/<token>/",
            "POST",
            link,
            (302, "/signup/payment/"),
            jar=jar,
            address=address,
            form=form,
        )
        await self.request(
            "GET /signup/payment/", "GET", "/signup/payment/", 200, jar=jar, address=address
        )

    async def dashboard(self):
        await self.request("GET /dashboard/", "GET", "/dashboard/", 200)
        page = SUBPAGES[self.page % len(SUBPAGES)]
        self.page += 1
        await self.request(f"GET /dashboard/{page}/", "GET", f"/dashboard/{page}/", 200)

    async def webhook(self):
        from billing import simulate

        queue = self.bench.stripe
        member = await queue.get()
        try:
            payload = member.next_event()
            body, header = simulate.signed(payload, self.bench.secret)
            await self.request(
                f"webhook {payload['type']}",
                "POST",
                WEBHOOK_URL,
                200,
                body=body.encode(),
                headers={"Content-Type": "application/json", "Stripe-Signature": header},
            )
        finally:
            queue.put_nowait(member)

    # Phase bodies

    async def do_login(self):
        await self.attempt(self.login)

    async def warm_up(self):
        await self.attempt(self.dashboard)
        await self.attempt(self.webhook)
        if self.index < WORKERS * 2:
            await self.attempt(self.signup)
        for path in ("/healthz", "/"):
            await self.attempt(lambda p=path: self.request(f"GET {p}", "GET", p, 200, jar={}))

    async def hammer(self, path):
        """The ceiling: an anonymous visitor (no cookies) asking for `path` again and again."""
        while not self.bench.closed():
            await self.attempt(lambda: self.request(f"GET {path}", "GET", path, 200, jar={}))

    async def mix(self):
        tasks = (self.signup, self.dashboard, self.webhook)
        while not self.bench.closed():
            await self.attempt(self.rng.choices(tasks, self.bench.args.weights)[0])

    async def attempt(self, task):
        with contextlib.suppress(WindowClosed, Failed):
            await task()


# --- figures ------------------------------------------------------------------------------


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def read_access_log(path: Path) -> dict[int, float]:
    """Request id -> seconds the gunicorn worker spent on it."""
    service = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            service[int(parts[0])] = int(parts[2]) / 1e6
    return service


@dataclass
class Row:
    label: str
    requests: int
    rate: float
    latencies: list
    errors: int
    worker: list  # worker seconds of each counted request found in the access log

    @property
    def worker_mean(self):
        return sum(self.worker) / len(self.worker) if self.worker else float("nan")


def rows_for(bench, phase, labels, service):
    """Rows of the requests that finished inside the phase's window (errors: all)."""
    seconds = (phase.deadline if phase.duration else phase.end) - phase.start
    records = [r for r in bench.records if r.phase == phase.name]
    rows = []
    for label in labels:
        mine = [r for r in records if r.label == label]
        counted = [r for r in mine if r.ok and r.end <= phase.deadline]
        rows.append(
            Row(
                label,
                len(counted),
                len(counted) / seconds,
                [r.end - r.start for r in counted],
                sum(not r.ok for r in mine),
                [service[r.rid] for r in counted if r.rid in service],
            )
        )
    return rows


def total_row(rows, seconds):
    requests = sum(r.requests for r in rows)
    return Row(
        "all",
        requests,
        requests / seconds,
        [x for r in rows for x in r.latencies],
        sum(r.errors for r in rows),
        [x for r in rows for x in r.worker],
    )


def print_table(rows, ceiling: Row | None = None, window: float = 0, overhead: float = 0):
    head = (
        f"{'endpoint':<38}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
        f"{'errors':>7}"
    )
    if ceiling:
        head += f"{'/ceil':>7}{'worker ms':>10}{'cost x':>8}{'alone/s':>9}{'w.share':>8}"
    print(head)
    for row in rows:
        if not row.requests and not row.errors:
            continue
        ms = [percentile(row.latencies, p) * 1000 for p in (50, 95, 99)] if row.latencies else []
        line = f"{row.label:<38}{row.requests:>9}{row.rate:>8.1f}"
        line += "".join(f"{v:>8.0f}" if v >= 10 else f"{v:>8.1f}" for v in ms) or " " * 24
        line += f"{row.errors:>7}"
        if ceiling:
            # Worker occupancy per request, relative to the ceiling's (WORKERS / its rate).
            cost = (row.worker_mean + overhead) * ceiling.rate / WORKERS
            share = sum(row.worker) / (WORKERS * window) * 100
            line += f"{row.rate / ceiling.rate:>7.3f}{row.worker_mean * 1000:>10.1f}"
            line += f"{cost:>8.1f}{ceiling.rate / cost:>9.1f}{share:>7.0f}%"
        print(line)


def print_cpu(bench, counts):
    cores = os.cpu_count()
    say(
        f"CPU seconds by phase, from /proc ({cores} CPUs; busy: of all of them; 'other' is "
        "everything else running, e.g. other people's test suites; gen %: the load "
        "generator's share of one CPU; per request: CPU / all requests of the phase):"
    )
    print(
        f"{'phase':<14}{'wall s':>7}{'busy':>6}{'gunicorn':>9}{'postgres':>9}{'redis':>6}"
        f"{'generator':>10}{'other':>7}{'gen %':>7}{'gunicorn ms/req':>16}{'gen ms/req':>11}"
    )
    for name, phase in bench.phases.items():
        c = phase.cpu
        other = c["machine"] - c["gunicorn"] - c["postgres"] - c["redis"] - c["generator"]
        busy = c["machine"] / c["capacity"] * 100 if c["capacity"] else 0
        n = max(counts[name], 1)
        print(
            f"{name:<14}{c['wall']:>7.1f}{busy:>5.0f}%{c['gunicorn']:>9.1f}{c['postgres']:>9.1f}"
            f"{c['redis']:>6.1f}{c['generator']:>10.1f}{max(other, 0):>7.1f}"
            f"{c['generator'] / c['wall'] * 100:>6.0f}%"
            f"{c['gunicorn'] / n * 1000:>16.2f}{c['generator'] / n * 1000:>11.2f}"
        )


def integrity(bench, maildir: Path) -> list[str]:
    """Compare what the server answered with what it stored."""
    from django.db.models import Count

    from billing.models import StripeEvent
    from members.models import Member

    def answered(label):
        return sum(r.ok for r in bench.records if r.label == label)

    problems = []
    signups = Member.objects.filter(email__startswith=f"load-{bench.run}-")
    created, partial = signups.count(), signups.partial().count()
    submitted = answered("POST /signup/continue/<token>/")
    say(
        f"database: {created} members created by signup for {submitted} submits answered 302, "
        f"{partial} of them partial"
    )
    if created != submitted or partial:
        problems.append("signup rows do not match the answers")
    states = dict(StripeEvent.objects.values_list("state").annotate(n=Count("id")))
    delivered = sum(answered(label) for label in WEBHOOK_LABELS)
    print(f"database: stored events by state {states} for {delivered} deliveries answered 200")
    if states.get("processed", 0) != delivered or set(states) - {"processed"}:
        problems.append("stored events do not match the deliveries")
    separator = b"-" * 79 + b"\n"
    mails = (
        sum(f.read_bytes().count(separator) for f in maildir.iterdir()) if maildir.exists() else 0
    )
    asked = answered("POST /signup/")
    print(
        f"mail: {mails} continue-link mails written by the worker for {asked} step-1 posts"
        " answered 302"
    )
    if mails != asked:
        problems.append("mails do not match the step-1 answers")
    return problems


# --- main -----------------------------------------------------------------------------------


async def drive(bench: Bench, meter: CpuMeter):
    args = bench.args
    vus = [VirtualUser(bench, i) for i in range(args.users)]
    await bench.run_phase("login", None, VirtualUser.do_login, vus, meter)
    await bench.run_phase("warm-up", None, VirtualUser.warm_up, vus, meter)
    for path in CEILING_PATHS:
        task = functools.partial(VirtualUser.hammer, path=path)
        await bench.run_phase(f"GET {path}", args.ceiling_duration, task, vus, meter)
    # The cheaper view is the ceiling; it is measured again after the mix, so that a
    # change in the machine's other load during the run shows.
    bench.ceiling_path = max(CEILING_PATHS, key=lambda p: bench.counted(f"GET {p}"))
    await bench.run_phase("mix", args.duration, VirtualUser.mix, vus, meter)
    task = functools.partial(VirtualUser.hammer, path=bench.ceiling_path)
    await bench.run_phase(AGAIN, args.ceiling_duration, task, vus, meter)


def main():
    args = parse_args()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="dh_bench_load_"))
    try:
        failed = run(args, started, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"total run time {time.perf_counter() - started:.0f} s")
    if failed:
        sys.exit(1)


def run(args, started: float, workdir: Path) -> bool:
    """The whole benchmark; True if anything went wrong."""
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    cache_url = REDIS_URL if fresh_redis(REDIS_URL) else "locmemcache://bench-load"
    env = server_environ(args, database_url, workdir, cache_url)
    # This process signs continue links and Stripe events with the server's secrets.
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connections

    print(f"setup: re-creating {database_url}, migrate, collectstatic, seeding", flush=True)
    recreate_database(database_url)
    prepare_server(env)
    members = seed_members(args.members)
    connections.close_all()
    server = start_gunicorn(env, args.port, workdir)
    bench = Bench(args, members, secrets.token_hex(2))
    meter = CpuMeter(server.pid, urlsplit(database_url).path.lstrip("/"))
    print(f"setup: gunicorn up after {time.perf_counter() - started:.0f} s; running", flush=True)
    try:
        asyncio.run(drive(bench, meter))
    finally:
        server.terminate()
        server.wait(timeout=30)
    # Step 1's mails are sent by jobs: one worker delivers what the run queued.
    subprocess.run(
        [sys.executable, "manage.py", "worker", "--one-shot"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    service = read_access_log(workdir / "access.log")
    print()
    report(bench, args, env, service, database_url)
    problems = integrity(bench, workdir / "mail")
    errors = [r for r in bench.records if not r.ok]
    print(f"errors: {len(errors)} (all phases)")
    for record in errors[:10]:
        print(f"  {record.phase}: {record.label} -> {record.status} {record.detail}")
    if errors:
        log_tail(workdir)
    for problem in problems:
        print(f"integrity: {problem}")
    return bool(errors or problems)


def say(text: str) -> None:
    print(textwrap.fill(text, 100, subsequent_indent="  "))


def report(bench, args, env, service, database_url):
    cores = os.cpu_count()
    say(
        f"bench/load.py: {args.users} virtual users; mix {args.duration:g} s; "
        f"ceiling {args.ceiling_duration:g} s per view"
    )
    say(
        f"server: as `make serve`: migrate, collectstatic, gunicorn dhportal.wsgi -w {WORKERS} "
        f"on {HOST}:{args.port}, DEBUG off, HTTPS=false; TRUSTED_PROXY_COUNT=1; "
        f"CACHE_URL {env['CACHE_URL']}; mail to a filemail dir; database {database_url}; the "
        "access log (on stdout under make serve) to a file, with each request's id and time"
    )
    say(
        "rate limits: production defaults (signup 20/3600 per address and 5/3600 per email, "
        "allauth's login limits). Each VU has its own X-Forwarded-For in 10.0.0.0/16; each "
        "signup visitor has its own in 10.128.0.0/9 and its own email"
    )
    say(
        f"client: one asyncio process (stdlib streams), a new connection per request (gunicorn's "
        f"sync workers close each one), no think time. It shares the {cores} CPUs with "
        "gunicorn, PostgreSQL and Redis (and whatever else runs), so the figures are what this "
        "whole machine sustains; its own CPU is shown at the end."
    )
    s, d, w = (f"{x:g}" for x in args.weights)
    say(
        f"mix weights signup:dashboard:webhook = {s}:{d}:{w}, per task a VU starts. signup = "
        "GET /signup/, POST the email, GET /signup/sent/, GET the continue link, POST the "
        "details (the password hash), GET /signup/payment/; dashboard = GET /dashboard/ and one "
        f"sub page in turn, logged in; webhook = one signed event for one of {args.members} "
        "seeded members, in a realistic order"
    )
    print()

    login = bench.phases["login"]
    rows = rows_for(bench, login, ("GET /accounts/login/", "POST /accounts/login/"), service)
    print(f"logins, once per VU, before the measured phases ({login.end - login.start:.1f} s):")
    print_table(rows)
    print()

    print(f"ceiling candidates: {args.users} anonymous VUs for {args.ceiling_duration:g} s each")
    path = bench.ceiling_path
    rows = [
        rows_for(bench, bench.phases[f"GET {p}"], (f"GET {p}",), service)[0] for p in CEILING_PATHS
    ]
    (again,) = rows_for(bench, bench.phases[AGAIN], (f"GET {path}",), service)
    again.label = f"GET {path} again, after the mix"
    print_table([*rows, again])
    (before,) = [row for row in rows if row.label == f"GET {path}"]
    ceiling = total_row([before, again], 2 * args.ceiling_duration)
    ceiling.label = f"GET {path}"
    occupancy = WORKERS / ceiling.rate
    # What a worker spends per request outside the logged span: accept, parse, close.
    overhead = max(occupancy - ceiling.worker_mean, 0)
    say(
        f"ceiling = GET {path}, the higher throughput, over both its runs: {ceiling.rate:.1f} "
        f"req/s, i.e. {occupancy * 1000:.2f} ms of a worker per request ({WORKERS} workers): "
        f"{ceiling.worker_mean * 1000:.2f} ms in the access log's request time and o = "
        f"{overhead * 1000:.2f} ms around it (accept, parse, close, logging)"
    )
    print()

    mix = bench.phases["mix"]
    labels = SIGNUP_LABELS + DASHBOARD_LABELS + WEBHOOK_LABELS
    rows = rows_for(bench, mix, labels, service)
    print(f"mixed load: {args.users} VUs for {args.duration:g} s")
    print_table([*rows, total_row(rows, args.duration)], ceiling, args.duration, overhead)
    tail = sum(1 for r in bench.records if r.phase == "mix" and r.ok and r.end > mix.deadline)
    done = next(r for r in rows if r.label == "GET /signup/payment/").requests
    say(
        f"({done} signups completed in the window; {tail} requests in flight at the end of the "
        "window finished after it: checked for errors, not counted)"
    )
    say(
        "latency: client side, from connect to the last byte, queueing for a worker included. "
        "/ceil: the endpoint's req/s in the mix / the ceiling's req/s (it follows the mix "
        "weights)."
    )
    say(
        "worker ms: mean gunicorn request time (access log %(D)s: queueing excluded); cost x: "
        f"(worker ms + o) / {occupancy * 1000:.2f} ms, i.e. one request takes as much worker "
        "time as that many ceiling requests; alone/s = ceiling req/s / cost x, what the "
        "endpoint alone would sustain here; w.share: its worker ms summed / "
        f"({WORKERS} workers x window)."
    )
    print()
    counts = {name: sum(1 for r in bench.records if r.phase == name) for name in bench.phases}
    print_cpu(bench, counts)
    print()


if __name__ == "__main__":
    main()
