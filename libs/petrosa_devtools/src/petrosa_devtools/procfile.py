"""``Procfile.dev`` read as data: each entry's variables and command words.

`make dev` runs ``honcho -f Procfile.dev``; the banner (:mod:`petrosa_devtools.dev_banner`) and
the end-to-end test of the healing stack read the same file, so what they say and test is
what runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from petrosa_common.settings import CommonSettings

from petrosa_devtools.infra import project_root

DEFAULT_API_PORT = 8000
"""The gateway's ``API_PORT`` default (``GatewaySettings``), for an entry that does not set it."""


@dataclass(frozen=True, slots=True)
class ProcfileEntry:
    """One ``name: command`` line: the variables it assigns and the rest of its words."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)

    def port(self, variable: str) -> int:
        """The entry's ``variable`` (e.g. ``METRICS_PORT``), else the common settings' default."""
        if variable in self.env:
            return int(self.env[variable])
        name = variable.lower()
        if name in CommonSettings.model_fields:
            default = CommonSettings.model_fields[name].default
            assert isinstance(default, int)
            return default
        if variable == "API_PORT":
            return DEFAULT_API_PORT
        raise KeyError(variable)

    def option(self, flag: str) -> str | None:
        """The value after ``flag`` (``--port 8081``) in the command, if any."""
        for word, value in zip(self.words, self.words[1:], strict=False):
            if word == flag:
                return value
        return None


def parse_procfile(text: str) -> dict[str, ProcfileEntry]:
    """Entries of a Procfile by name (comments and blank lines skipped)."""
    entries: dict[str, ProcfileEntry] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        env: dict[str, str] = {}
        words: list[str] = []
        for word in shlex.split(command):
            variable, equals, value = word.partition("=")
            if equals and variable.isupper() and variable.replace("_", "").isalnum():
                env[variable] = value
            else:
                words.append(word)
        entries[name.strip()] = ProcfileEntry(name.strip(), env, words)
    return entries


def read_procfile(path: Path | None = None) -> dict[str, ProcfileEntry]:
    """The entries of ``path`` (default: the project's ``Procfile.dev``)."""
    return parse_procfile((path or project_root() / "Procfile.dev").read_text())
