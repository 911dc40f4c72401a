"""/admin/reports/: the reports registered in dhportal/reports.py, each a chart (SVG drawn
on the server, staff/charts.py), its table and a CSV download
(`?report=<name>&format=csv`). For staff with `members.view_reports`."""

import csv
import datetime

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from dhportal import reports
from dhportal.reports import Figure, Period
from staff.charts import chart_for, svg

PERMISSION = "members.view_reports"
DEFAULT_DAYS = 30
LONGEST_PERIOD = datetime.timedelta(days=3 * 366)


class PeriodForm(forms.Form):
    """The funnel's days, both included."""

    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The period must start on or before its last day.")
            if end - start > LONGEST_PERIOD:
                raise forms.ValidationError("Choose a period of three years or less.")
        return data


def _default_period() -> Period:
    today = timezone.localdate()
    return Period(today - datetime.timedelta(days=DEFAULT_DAYS - 1), today)


def _period(form: PeriodForm) -> Period:
    default = _default_period()
    if not form.is_valid():
        return default
    start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
    if start and not end:
        end = max(start, default.last)
    if end and not start:
        start = end - datetime.timedelta(days=DEFAULT_DAYS - 1)
    return Period(start or default.first, end or default.last)


def _csv(report: reports.Report, figures: list[Figure]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{report.name}.csv"'
    writer = csv.writer(response)
    several = len(figures) > 1
    for number, figure in enumerate(figures):
        if number == 0:
            writer.writerow(["figure", *figure.columns] if several else list(figure.columns))
        for row in figure.rows + ([figure.total] if figure.total else []):
            writer.writerow([figure.title, *row] if several else list(row))
    return response


def _shown_figure(fid: str, figure: Figure) -> tuple:
    """(id, figure, its SVG chart, its rows as text): text cells, as the CSV has them,
    spare the template localising thousands of numbers."""
    rows = [[str(cell) for cell in row] for row in figure.rows]
    return fid, figure, svg(chart_for(figure), fid), rows


def _error(request: HttpRequest, context: dict, message: str) -> TemplateResponse:
    context["error"] = message
    return TemplateResponse(request, "admin/reports.html", context, status=400)


def reports_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form = PeriodForm(request.GET or None)
    period = _period(form)
    context = {
        **admin.site.each_context(request),
        "title": "Reports",
        "form": form,
        "period": period,
        "shown": [],
    }
    name = request.GET.get("report", "")
    wanted = reports.registered_reports()
    if name:
        one = reports.report_named(name)
        if one is None:
            return _error(request, context, f"There is no report named “{name}”.")
        wanted = [one]
    if form.is_bound and not form.is_valid():
        return _error(
            request,
            context,
            " ".join(str(e) for e in form.non_field_errors()) or _field_errors(form),
        )
    format_ = request.GET.get("format", "html")
    if format_ not in ("html", "csv") or (format_ == "csv" and not name):
        return _error(request, context, "A download needs ?report=<name>&format=csv.")
    if format_ == "csv":
        return _csv(wanted[0], wanted[0].build(period))
    context["shown"] = [
        (
            report,
            [
                _shown_figure(f"figure-{report.name}-{n}", figure)
                for n, figure in enumerate(report.build(period), start=1)
            ],
        )
        for report in wanted
    ]
    context["single"] = bool(name)
    return TemplateResponse(request, "admin/reports.html", context)


def _field_errors(form: PeriodForm) -> str:
    return " ".join(
        f"{form.fields[field].label}: {' '.join(str(e) for e in errors)}"
        for field, errors in form.errors.items()
        if field in form.fields
    )
