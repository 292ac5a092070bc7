"""Every console script answers --help and --version without connecting to anything, and
refuses unknown arguments with status 2 and its usage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from petrosa_devtools import infra

SCRIPTS = [
    "petrosa-gateway",
    "petrosa-ingestor",
    "petrosa-backfiller",
    "petrosa-auditor",
    "petrosa-analytics",
    "petrosa-sim",
    "petrosa-infra",
    "petrosa-backfill",
]
# Servers that do not exist: a script that tried to connect would hang or fail, not print help.
NOWHERE = {
    "NATS_URL": "nats://127.0.0.1:1",
    "MONGODB_URL": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100",
    "POSTGRES_URL": "postgresql://nobody@127.0.0.1:1/none",
    "PATH": str(Path(sys.executable).parent),
}


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / script
    return subprocess.run(
        [str(executable), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=NOWHERE,
        check=False,
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_usage_and_connects_to_nothing(script: str) -> None:
    done = run(script, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script}")
    assert "--version" in done.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_version_prints_the_installed_version(script: str) -> None:
    done = run(script, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{script} 0.1.0"


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_arguments_exit_2_with_the_usage(script: str) -> None:
    done = run(script, "--no-such-option")
    assert done.returncode == 2
    assert f"usage: {script}" in done.stderr
    assert "unrecognized arguments: --no-such-option" in done.stderr or "required" in done.stderr


def test_service_help_lists_the_settings_read_from_the_environment() -> None:
    done = run("petrosa-ingestor", "--help")
    assert "INGEST_MAX_DELIVER [5]" in done.stdout
    assert "NATS_URL [nats://localhost:4222]" in done.stdout


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (["--gc-percent", "lots"], 'invalid value "lots" for flag -gc-percent'),
        (["--gc-percent", "-5"], "--gc-percent -5: want -1"),
        (["--memory-limit-mib", "0"], "--memory-limit-mib 0: want 1 to"),
        (["--memory-limit-mib", str(1 << 40)], f"--memory-limit-mib {1 << 40}: want 1 to"),
    ],
)
def test_the_ferretdb_launcher_refuses_bad_gc_settings_before_listening(
    args: list[str], refusal: str
) -> None:
    launcher = infra.ferretdb_binary()
    result = subprocess.run(
        [str(launcher), *args, "--listen-addr", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert refusal in result.stderr
    assert "listening" not in result.stderr
