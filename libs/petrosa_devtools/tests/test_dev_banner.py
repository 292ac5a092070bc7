"""The `make dev` banner and the Procfile it reads: the addresses it prints are the ones
``Procfile.dev`` makes the services listen on, and the banner process keeps honcho running."""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from petrosa_devtools.dev_banner import banner
from petrosa_devtools.processes import free_port
from petrosa_devtools.procfile import DEFAULT_API_PORT, parse_procfile, read_procfile
from petrosa_gateway.settings import GatewaySettings

PROCFILE = "\n".join(
    [
        "# a comment",
        "banner: python -m petrosa_devtools.dev_banner",
        "ingestor: python -m petrosa_ingestor",
        "auditor: AUDIT_INTERVAL=30 ANALYTICS_WINDOWS=a=1,b=2 METRICS_PORT=9192 HEALTH_PORT=8182"
        " python -m petrosa_auditor",
        "gateway: API_DEV_MODE=true API_PORT=8100 METRICS_PORT=9191 HEALTH_PORT=0"
        " python -m petrosa_gateway",
        "fake-binance: petrosa-sim binance --port 8181",
        "backfiller: sleep 2 && BINANCE_FAPI_BASE_URL=http://127.0.0.1:8181 METRICS_PORT=9193"
        " HEALTH_PORT=8183 python -m petrosa_backfiller",
    ]
)


def test_entries_are_read_with_their_variables_and_words() -> None:
    entries = parse_procfile(PROCFILE)
    assert list(entries) == [
        "banner",
        "ingestor",
        "auditor",
        "gateway",
        "fake-binance",
        "backfiller",
    ]
    auditor = entries["auditor"]
    assert auditor.env == {
        "AUDIT_INTERVAL": "30",
        "ANALYTICS_WINDOWS": "a=1,b=2",
        "METRICS_PORT": "9192",
        "HEALTH_PORT": "8182",
    }
    assert auditor.words == ["python", "-m", "petrosa_auditor"]
    assert entries["backfiller"].words[:3] == ["sleep", "2", "&&"]
    assert entries["fake-binance"].option("--port") == "8181"
    assert entries["gateway"].option("--port") is None


def test_ports_an_entry_leaves_unset_are_the_settings_defaults() -> None:
    ingestor = parse_procfile(PROCFILE)["ingestor"]
    assert (ingestor.port("METRICS_PORT"), ingestor.port("HEALTH_PORT")) == (9090, 8080)
    assert ingestor.port("API_PORT") == DEFAULT_API_PORT
    assert GatewaySettings.model_fields["api_port"].default == DEFAULT_API_PORT
    with pytest.raises(KeyError):
        ingestor.port("NO_SUCH_PORT")


def test_the_banner_names_every_address_of_the_procfile_and_how_to_stop() -> None:
    text = banner(parse_procfile(PROCFILE))
    lines = text.splitlines()
    assert lines[0] == lines[-1] == "=" * max(len(line) for line in lines)
    assert (
        "  API docs        http://localhost:8100/docs  (ReDoc: http://localhost:8100/redoc)"
        in lines
    )
    assert "  Dataset health  http://localhost:8100/health/summary" in lines
    metrics = [line for line in lines if "/metrics" in line]
    assert [line[:18] for line in metrics] == ["  Metrics".ljust(18)] + [" " * 18] * 3
    assert [line[18:] for line in metrics] == [
        "http://localhost:9090/metrics  ingestor    (health: :8080/health/readiness)",
        "http://localhost:9192/metrics  auditor     (health: :8182/health/readiness)",
        "http://localhost:9191/metrics  gateway",
        "http://localhost:9193/metrics  backfiller  (health: :8183/health/readiness)",
    ]
    assert "  Fake Binance    http://localhost:8181/_fake/stats" in lines
    assert any("Ctrl-C" in line for line in lines)
    assert any("`make infra-down`" in line for line in lines)


def test_the_projects_procfile_gives_every_process_its_own_ports() -> None:
    entries = read_procfile()
    assert {"banner", "gateway", "ingestor", "auditor", "backfiller", "fake-binance"} <= set(
        entries
    )
    ports = [entries["gateway"].port("API_PORT")]
    for name in ("gateway", "ingestor", "auditor", "backfiller", "analytics"):
        ports.append(entries[name].port("METRICS_PORT"))
        if name != "gateway":
            ports.append(entries[name].port("HEALTH_PORT"))
    fake_port = entries["fake-binance"].option("--port")
    assert fake_port is not None
    ports.append(int(fake_port))
    assert len(ports) == len(set(ports)), ports
    # The backfiller fetches from the fake Binance the Procfile starts.
    assert entries["backfiller"].env["BINANCE_FAPI_BASE_URL"] == f"http://127.0.0.1:{fake_port}"


@pytest.fixture
def gateway_port() -> Iterator[int]:
    """A stand-in gateway answering ``/health/liveness`` on a free port."""

    class Liveness(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health/liveness" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", free_port()), Liveness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_banner_waits_for_the_gateway_then_stays_up_until_sigterm(
    gateway_port: int, tmp_path: Path
) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(PROCFILE.replace("API_PORT=8100", f"API_PORT={gateway_port}"))
    command = [sys.executable, "-m", "petrosa_devtools.dev_banner", "--procfile", str(procfile)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("====")
        second = process.stdout.readline()
        assert second == "Petrosa Data Manager is running (make dev).\n"
        # honcho stops the whole stack when one entry exits: the banner must not.
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        rest = process.stdout.read()
    assert f"http://localhost:{gateway_port}/docs" in rest
    assert "did not answer" not in rest


def test_the_banner_is_printed_even_when_the_gateway_never_answers(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(PROCFILE.replace("API_PORT=8100", f"API_PORT={free_port()}"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "petrosa_devtools.dev_banner",
            "--procfile",
            str(procfile),
            "--wait",
            "0.5",
            "--exit",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Petrosa Data Manager is running (make dev)." in done.stdout
    assert "(the gateway did not answer within 0.5 s: see its lines above)" in done.stdout
