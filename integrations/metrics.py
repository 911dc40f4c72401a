"""GET /metrics: the gauges every app registers in dhportal/reports.py, in Prometheus'
text format (prometheus_client), for a key with the `metrics:read` scope (README
"Reports and metrics"). The gauges are read from the database on each scrape: nothing
is kept between requests, so every worker answers the same."""

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from dhportal import reports
from integrations.keyed import UsedKey, keyed
from integrations.models import Scope
from integrations.ratelimit import Limit

log = logging.getLogger(__name__)


class RegisteredGauges(Collector):
    def collect(self):
        for gauge in reports.registered_gauges():
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            try:
                samples = gauge.collect()
            except DatabaseError:
                # One failing figure leaves its gauge without samples, the others stand.
                log.exception("Metric %s could not be read", gauge.name)
                samples = []
            for labels, value in samples:
                family.add_metric(list(labels), value)
            yield family


@require_GET
@keyed(Scope.METRICS_READ, Limit.METRICS)
def metrics(request: HttpRequest, key: UsedKey) -> HttpResponse:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RegisteredGauges())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
