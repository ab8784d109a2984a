"""Run `frtrain` in-process through its console-script entry point (app.cli.main)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.core.config import get_settings


class CLI:
    """Runs `frtrain ARGS` in-process through app.cli.main; returns (exit code, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str | Path) -> tuple[int, str, str]:
        self.capsys.readouterr()
        self.monkeypatch.setattr(sys, "argv", ["frtrain", *map(str, args)])
        get_settings.cache_clear()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str | Path) -> str:
        code, out, err = self(*args)
        assert code == 0, (args, out, err)
        return out

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def bad(self, *args: str | Path, code: int = 2) -> str:
        """A refused command: the given exit code and exactly one line on stderr, no traceback."""
        got, out, err = self(*args)
        assert got == code, (args, got, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Traceback" not in out + err and "validation error" not in err
        return lines[0]
