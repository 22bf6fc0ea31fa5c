"""Keyturn's /metrics (Prometheus text) as numbers: read before and after, subtract."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, tuple[tuple[str, str], ...]]  # sample name, sorted labels

# The names in src/keyturn/metrics.py (prometheus-client adds _total / _sum / _count).
TRANSACTIONS = "keyturn_db_transactions_total"
STATEMENTS = "keyturn_db_statements_total"
REQUESTS = "keyturn_http_requests_total"
REQUEST_SECONDS_SUM = "keyturn_http_request_duration_seconds_sum"
SIGN_INS = "keyturn_sign_ins_total"


class Samples(dict[Key, float]):
    @classmethod
    def parse(cls, text: str) -> Samples:
        samples = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def minus(self, before: Mapping[Key, float]) -> Samples:
        return Samples({key: value - before.get(key, 0.0) for key, value in self.items()})

    def total(self, name: str, **match: str) -> float:
        return sum(
            value
            for (sample, labels), value in self.items()
            if sample == name and all(dict(labels).get(k) == v for k, v in match.items())
        )

    def by(self, name: str, *label_names: str) -> dict[tuple[str, ...], float]:
        """Sum of a sample grouped by the values of some of its labels (zeros left out)."""
        grouped: dict[tuple[str, ...], float] = defaultdict(float)
        for (sample, labels), value in self.items():
            if sample == name and value:
                found = dict(labels)
                grouped[tuple(found.get(n, "") for n in label_names)] += value
        return dict(grouped)
