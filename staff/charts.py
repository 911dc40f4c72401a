"""Charts for the reports page, drawn as SVG on the server (README "Reports and
metrics"): the page needs no script, so the CSP stays as it is. Bars and lines are
told apart without colour (each line has its own dash pattern and marker, and its name
written at its end); the numbers are in the table beside each chart."""

from dataclasses import dataclass, field

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from dhportal.reports import ChartKind, Figure

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 110, 16, 56  # room for the axis labels and line names
TICKS = 4
MAX_X_LABELS = 12


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int | float


@dataclass
class Line:
    name: str
    index: int  # picks its dash pattern and marker (CSS class series-<index>)
    points: str  # the polyline's "x,y x,y …"
    dots: list[tuple[float, float]]
    end_x: float
    end_y: float


@dataclass
class Chart:
    kind: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def _nice_max(value: float) -> int:
    """The axis' top: TICKS steps of 1, 2 or 5 times a power of ten (whole numbers on
    every tick), at least `value`."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude * TICKS >= value:
                return step * magnitude * TICKS
        magnitude *= 10


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _axes(chart: Chart, top_value: float, labels: list[str], step: float, offset: float):
    plot_height = chart.bottom - chart.top
    for i in range(TICKS + 1):
        value = top_value * i / TICKS
        chart.ticks.append((chart.bottom - plot_height * i / TICKS, _number(value)))
    every = max(1, -(-len(labels) // MAX_X_LABELS))
    for i, label in enumerate(labels):
        if i % every == 0:
            chart.x_labels.append((chart.left + offset + step * i, label))


def _bars(figure: Figure) -> Chart:
    labels = [str(row[0]) for row in figure.rows]
    values = [row[1] or 0 for row in figure.rows]
    widest = 48  # a lone bar stays a bar
    chart = Chart(ChartKind.BARS, f"Bar chart of {figure.columns[1]} by {figure.columns[0]}")
    chart.right = WIDTH - 16
    top_value = _nice_max(max(values, default=0))
    step = (chart.right - chart.left) / max(len(values), 1)
    _axes(chart, top_value, labels, step, step / 2)
    plot_height = chart.bottom - chart.top
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = plot_height * value / top_value
        width = min(step * 0.8, widest)
        chart.bars.append(
            Bar(
                x=round(chart.left + step * i + (step - width) / 2, 1),
                y=round(chart.bottom - height, 1),
                width=round(width, 1),
                height=round(height, 1),
                label=label,
                value=value,
            )
        )
    return chart


def _lines(figure: Figure) -> Chart:
    labels = [str(row[0]) for row in figure.rows]
    drawn = [
        (i, name) for i, name in enumerate(figure.columns) if i and name not in figure.uncharted
    ]
    names = [name for _, name in drawn]
    chart = Chart(ChartKind.LINES, f"Line chart of {', '.join(names)} by {figure.columns[0]}")
    values = [row[i] or 0 for row in figure.rows for i, _ in drawn]
    top_value = _nice_max(max(values, default=0))
    step = (chart.right - chart.left) / max(len(labels) - 1, 1)
    _axes(chart, top_value, labels, step, 0)
    plot_height = chart.bottom - chart.top
    for index, (column, name) in enumerate(drawn):
        dots = [
            (
                round(chart.left + step * i, 1),
                round(chart.bottom - plot_height * (row[column] or 0) / top_value, 1),
            )
            for i, row in enumerate(figure.rows)
        ]
        if not dots:
            continue
        points = " ".join(f"{x},{y}" for x, y in dots)
        chart.lines.append(Line(name, index, points, dots, dots[-1][0] + 8, dots[-1][1] + 4))
    _spread_names(chart.lines)
    return chart


def _spread_names(lines: list[Line], gap: float = 12) -> None:
    """Move the names at the lines' ends apart (lines ending on one value would print
    them over each other), keeping their order top to bottom."""
    previous = None
    for line in sorted(lines, key=lambda line: (line.end_y, line.index)):
        if previous is not None and line.end_y < previous + gap:
            line.end_y = round(previous + gap, 1)
        previous = line.end_y


def chart_for(figure: Figure) -> Chart:
    return _lines(figure) if figure.chart == ChartKind.LINES else _bars(figure)


# --- the SVG markup ------------------------------------------------------------------------
# Written here rather than in a template: a page holds hundreds of bars and points, and
# Django's template engine would localise every coordinate. format_html escapes every
# value (labels are status names, dates and plan names staff typed).

_MARKERS = (
    '<circle id="{fid}-marker-0" r="3"/>',
    '<rect id="{fid}-marker-1" x="-3" y="-3" width="6" height="6"/>',
    '<path id="{fid}-marker-2" d="M0,-4 L4,3 L-4,3 Z"/>',
    '<path id="{fid}-marker-3" d="M-4,0 L0,-4 L4,0 L0,4 Z"/>',
    '<path id="{fid}-marker-4" d="M-4,-4 L4,4 M-4,4 L4,-4"/>',
    '<path id="{fid}-marker-5" d="M-4,0 L4,0 M0,-4 L0,4"/>',
    '<circle id="{fid}-marker-6" r="4"/>',
    '<rect id="{fid}-marker-7" x="-4" y="-4" width="8" height="8"/>',
    '<path id="{fid}-marker-8" d="M0,4 L4,-3 L-4,-3 Z"/>',
)


def _grid(chart: Chart) -> SafeString:
    return format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text x="{}" y="{}" dy="4" text-anchor="end">{}</text>',
        ((chart.left, chart.right, y, y, chart.left - 6, y, label) for y, label in chart.ticks),
    )


def _x_labels(chart: Chart) -> SafeString:
    y = chart.bottom + 14
    return format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end" transform="rotate(-35 {} {})">{}</text>',
        ((x, y, x, y, label) for x, label in chart.x_labels),
    )


def _bar_marks(chart: Chart) -> SafeString:
    return format_html_join(
        "",
        '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        ((b.x, b.y, b.width, b.height, b.label, b.value) for b in chart.bars),
    )


def _line_marks(chart: Chart, fid: str) -> SafeString:
    groups = []
    for line in chart.lines:
        dots = format_html_join(
            "",
            '<use href="#{}-marker-{}" x="{}" y="{}"/>',
            ((fid, line.index, x, y) for x, y in line.dots),
        )
        groups.append(
            format_html(
                '<g class="chart-line series-{}"><polyline points="{}"/>{}'
                '<text x="{}" y="{}">{}</text></g>',
                line.index,
                line.points,
                dots,
                line.end_x,
                line.end_y,
                line.name,
            )
        )
    if not groups:
        return SafeString("")
    markers = SafeString("".join(m.format(fid=fid) for m in _MARKERS))  # fixed shapes
    return format_html("{}<defs>{}</defs>", SafeString("".join(groups)), markers)


def svg(chart: Chart, fid: str) -> SafeString:
    """The chart as an SVG element named by its title (the table beside it has the
    numbers); `fid` makes its ids unique on the page."""
    return format_html(
        '<svg class="chart chart-{}" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-svgtitle"'
        ' focusable="false"><title id="{}-svgtitle">{} (the table beside it has the numbers)'
        '</title><g class="chart-grid">{}</g><g class="chart-x">{}</g>{}{}'
        '<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/></svg>',
        chart.kind,
        chart.width,
        chart.height,
        fid,
        fid,
        chart.description,
        _grid(chart),
        _x_labels(chart),
        _bar_marks(chart),
        _line_marks(chart, fid),
        chart.left,
        chart.right,
        chart.bottom,
        chart.bottom,
    )
