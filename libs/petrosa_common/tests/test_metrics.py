"""One home per metric: every ``data_manager_*`` collector any of our packages registers is
defined in a module under ``petrosa_common.metrics``, and docs/metrics.md documents each one
with its labels."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

PACKAGES = (
    "petrosa_common",
    "petrosa_devtools",
    "petrosa_sim",
    "petrosa_ingestor",
    "petrosa_auditor",
    "petrosa_backfiller",
    "petrosa_analytics",
    "petrosa_gateway",
)
METRICS_PACKAGE = "petrosa_common.metrics"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"

# What each module exported before the metrics moved into petrosa_common: it must still.
LEGACY_EXPORTS = {
    "petrosa_common.metrics": (
        "MESSAGES_RECEIVED MESSAGES_PROCESSED MESSAGES_FAILED MESSAGE_PROCESSING_SECONDS"
        " BATCH_SIZE NATS_CONNECTION_STATUS CONSUMER_PENDING CONSUMER_ACK_PENDING DEAD_LETTERS"
        " DATABASE_OPERATIONS ERRORS start_metrics_server LEADER_STATUS LEADER_TRANSITIONS"
        " ANALYTICS_CYCLE_SECONDS ANALYTICS_SERIES_COMPUTED ANALYTICS_ERRORS"
    ),
    "petrosa_backfiller.metrics": (
        "JOBS_FINISHED JOBS_RUNNING JOB_PROGRESS CHUNKS CHUNK_SECONDS RECORDS_FETCHED"
        " RECORDS_WRITTEN JOB_RELEASES BINANCE_REQUESTS BINANCE_REQUEST_SECONDS BINANCE_WEIGHT"
        " BINANCE_USED_WEIGHT BINANCE_BUDGET record_binance_response observe_budget"
    ),
    "petrosa_gateway.metrics": (
        "REQUESTS REQUEST_DURATION ACTIVE_REQUESTS SKIPPED_DOCUMENTS ACTIVE_CONNECTIONS"
        " DATABASE_OPERATIONS ERRORS record_error within_deadline db_operation"
    ),
}


def import_everything() -> list[ModuleType]:
    """Import every module of every workspace package (so every metric is registered)."""
    modules = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules.append(package)
        modules.extend(
            importlib.import_module(info.name)
            for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}.")
        )
    return modules


def collectors_in(module: ModuleType) -> list[MetricWrapperBase]:
    return [value for value in vars(module).values() if isinstance(value, MetricWrapperBase)]


def metrics_package_modules() -> list[ModuleType]:
    import_everything()
    return [
        module
        for name, module in sys.modules.items()
        if name == METRICS_PACKAGE or name.startswith(f"{METRICS_PACKAGE}.")
    ]


def exposed_name(collector: MetricWrapperBase) -> str:
    """The name as defined (counters keep their ``_total``)."""
    name: str = collector._name
    return f"{name}_total" if collector._type == "counter" else name


def test_every_data_manager_collector_is_defined_in_petrosa_common_metrics() -> None:
    modules = import_everything()
    defined = {id(c): c for m in metrics_package_modules() for c in collectors_in(m)}
    defined_names = {family.name for c in defined.values() for family in c.describe()}
    registered = {
        family.name for family in REGISTRY.collect() if family.name.startswith("data_manager_")
    }
    elsewhere = {
        f"{family.name} ({module.__name__})"
        for module in modules
        if not module.__name__.startswith(METRICS_PACKAGE)
        for collector in collectors_in(module)
        if id(collector) not in defined
        for family in collector.describe()
    }
    assert not elsewhere, f"metrics defined outside {METRICS_PACKAGE}: {sorted(elsewhere)}"
    assert registered <= defined_names, (
        f"registered data_manager_* metrics not defined in {METRICS_PACKAGE}:"
        f" {sorted(registered - defined_names)}"
    )
    assert registered == defined_names  # and every metric of the package is registered


def test_every_metric_of_the_package_is_named_data_manager() -> None:
    names = {exposed_name(c) for m in metrics_package_modules() for c in collectors_in(m)}
    assert names, "no metric found"
    assert all(name.startswith("data_manager_") for name in names), sorted(names)


@pytest.mark.parametrize("module_name", sorted(LEGACY_EXPORTS))
def test_modules_export_what_they_exported_before_the_move(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in LEGACY_EXPORTS[module_name].split() if not hasattr(module, name)]
    assert not missing, f"{module_name} no longer exports {missing}"


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    """docs/metrics.md: one table row per metric, ``| `name` | type | `label`, ... | ...``."""
    rows: dict[str, tuple[str, set[str]]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and (found := re.fullmatch(r"`(data_manager_\w+)`", cells[0])):
            rows[found[1]] = (cells[1], set(re.findall(r"`(\w+)`", cells[2])))
    collectors = {exposed_name(c): c for m in metrics_package_modules() for c in collectors_in(m)}
    assert set(rows) == set(collectors), "docs/metrics.md lists other metrics than the package"
    for name, collector in collectors.items():
        kind, labels = rows[name]
        assert (kind, labels) == (collector._type, set(collector._labelnames)), name
