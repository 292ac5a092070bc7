"""The API docs render offline: headless Chromium opens /docs and /redoc of a gateway process
and finds every operation, with no request leaving the machine (assets are packaged)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import httpx
import pytest
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_devtools.pytest_plugin import unique_name
from pymongo import MongoClient

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def docs_url(infra_urls: InfraUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    database = unique_name("t")
    process = ServiceProcess.python_module(
        "petrosa_gateway",
        {
            "NATS_URL": infra_urls.nats_url,
            "MONGODB_URL": infra_urls.mongodb_url,
            "MONGODB_DATABASE": database,
            "POSTGRES_URL": infra_urls.postgres_url,
            "API_PORT": str(port),
            "METRICS_PORT": "0",
            "LOG_LEVEL": "WARNING",
        },
        tmp_path_factory.mktemp("gateway") / "gateway.log",
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_until(lambda: _ok(f"{url}/health/liveness"), timeout=60)
        yield url
    finally:
        process.stop()
        with MongoClient(infra_urls.mongodb_url) as client:
            client.drop_database(database)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def rendered(url: str) -> str:
    """The DOM of ``url`` after its scripts ran, from headless Chromium without network
    access beyond this machine (no background networking, no component updates)."""
    assert CHROMIUM, "headless Chromium is needed: apt-get install chromium (.ci/run does)"
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_swagger_ui_lists_every_operation(docs_url: str) -> None:
    page = httpx.get(f"{docs_url}/docs").text
    assert not re.search(r"(src|href)=['\"]https?://", page), "the page loads something remote"
    dom = rendered(f"{docs_url}/docs")
    paths = httpx.get(f"{docs_url}/openapi.json").json()["paths"]
    missing = [path for path in paths if f'data-path="{path}"' not in dom]
    assert not missing, f"Swagger UI did not render {missing}"


def test_redoc_renders_the_api(docs_url: str) -> None:
    page = httpx.get(f"{docs_url}/redoc").text
    assert not re.search(r"(src|href)=['\"]https?://", page), "the page loads something remote"
    dom = rendered(f"{docs_url}/redoc")
    assert "Petrosa Data Manager API" in dom
    assert "/analysis/regime" in dom
    assert "/data/candles" in dom


def test_the_assets_are_served_by_the_gateway(docs_url: str) -> None:
    script = httpx.get(f"{docs_url}/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.text
    assert httpx.get(f"{docs_url}/docs-assets/redoc.standalone.js").status_code == 200
