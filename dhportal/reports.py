"""Reports and metrics: registries every app fills from its AppConfig.ready().

Staff read the reports at /admin/reports/ (drawn by staff/reports.py), the space's
monitoring reads the gauges at /metrics (served by integrations/metrics.py). Each app
registers the figures of its own tables, so neither page knows another app's tables
(imports point one way; README "Reports and metrics"):

    from dhportal import reports
    reports.register_report("plans", "Members per plan", counts="…", build=plans, order=40)
    reports.register_funnel_step("paid", "Paid (a subscription linked)", count=paid, order=30)
    reports.register_gauge("dhportal_stripe_events", "Stripe events by state",
                           labels=("state",), collect=stripe_events)
"""

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# --- reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The days a report covers, both included (the funnel's chosen period)."""

    first: datetime.date
    last: datetime.date

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """[start, end) as aware datetimes in UTC, the database's reporting zone."""
        start = datetime.datetime.combine(self.first, datetime.time(), datetime.UTC)
        end = datetime.datetime.combine(self.last, datetime.time(), datetime.UTC)
        return start, end + datetime.timedelta(days=1)


class ChartKind:
    BARS = "bars"  # the first number column, one bar per row
    LINES = "lines"  # every number column, one line each


@dataclass
class Figure:
    """One table of a report and how to draw it. The first column labels the rows; the
    others hold numbers."""

    title: str
    columns: Sequence[str]
    rows: list[tuple] = field(default_factory=list)
    chart: str = ChartKind.BARS
    # A total below the rows (in the table and the CSV, not drawn), and number columns
    # left out of the chart (a total beside the others).
    total: tuple | None = None
    uncharted: Sequence[str] = ()


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    counts: str  # what it counts, in one or two sentences for staff
    build: Callable[[Period], list[Figure]]
    order: int
    takes_period: bool


_REPORTS: dict[str, Report] = {}


def register_report(
    name: str,
    title: str,
    *,
    counts: str,
    build: Callable[[Period], list[Figure]],
    order: int = 100,
    takes_period: bool = False,
) -> None:
    """Add (or replace, for a reloaded app) one report. `build` gets the chosen period
    (used by reports with `takes_period`) and returns its figures."""
    _REPORTS[name] = Report(name, title, counts, build, order, takes_period)


def registered_reports() -> list[Report]:
    return sorted(_REPORTS.values(), key=lambda r: (r.order, r.name))


def report_named(name: str) -> Report | None:
    return _REPORTS.get(name)


# --- the funnel's steps -------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: Callable[[datetime.datetime, datetime.datetime], int]  # within [start, end)
    order: int


_FUNNEL: dict[str, FunnelStep] = {}


def register_funnel_step(
    key: str,
    label: str,
    *,
    count: Callable[[datetime.datetime, datetime.datetime], int],
    order: int,
) -> None:
    _FUNNEL[key] = FunnelStep(key, label, count, order)


def funnel_steps() -> list[FunnelStep]:
    return sorted(_FUNNEL.values(), key=lambda s: (s.order, s.key))


# --- gauges for /metrics ------------------------------------------------------------------

Sample = tuple[tuple[str, ...], float]  # label values (in the gauge's label order), value


@dataclass(frozen=True)
class Gauge:
    name: str
    documentation: str
    labels: tuple[str, ...]
    collect: Callable[[], list[Sample]]


_GAUGES: dict[str, Gauge] = {}


def register_gauge(
    name: str,
    documentation: str,
    *,
    collect: Callable[[], list[Sample]],
    labels: tuple[str, ...] = (),
) -> None:
    """Add one gauge; `collect` runs on each scrape, so it should use an index or a
    small table."""
    _GAUGES[name] = Gauge(name, documentation, labels, collect)


def registered_gauges() -> list[Gauge]:
    return sorted(_GAUGES.values(), key=lambda g: g.name)
