"""systemd/optout-daemon.service: `systemd-analyze verify` passes and the security exposure is <= 2.0."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import require_server

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "optout-daemon.service"
INSTALLED_BINARY = "/opt/optout-daemon/.venv/bin/optout-daemon"


def _analyze() -> str:
    require_server("systemd-analyze", "the systemd package (apt-get install systemd)",
                   lambda: shutil.which("systemd-analyze") is not None)
    return shutil.which("systemd-analyze") or ""


def _copy_with_existing_binary(tmp_path: Path) -> Path:
    """The unit as shipped names the binary where docs/SERVICE.md installs it (/opt/...), which does
    not exist on a build machine, and `verify` rightly reports a missing ExecStart binary. So we
    verify a copy whose ExecStart points at this checkout's own entry point; nothing else changes."""
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED_BINARY in text, "the unit's ExecStart must use the documented venv path"
    here = Path(sys.prefix) / "bin" / "optout-daemon"
    if not here.exists():
        pytest.fail(f"{here} is missing: run 'make venv' (pip install -e .) so the entry point exists")
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_BINARY, str(here)), encoding="utf-8")
    return copy


def test_unit_verifies(tmp_path: Path) -> None:
    analyze = _analyze()
    unit = _copy_with_existing_binary(tmp_path)
    result = subprocess.run([analyze, "verify", unit.name], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    print(result.stdout, result.stderr)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "optout-daemon.service" in line]
    assert result.returncode == 0 and not problems, problems or result.stderr


def test_unit_as_shipped_fails_verify_only_for_the_missing_binary(tmp_path: Path) -> None:
    """The honest other half: the shipped file differs only by the binary's path, and that is the
    one complaint `verify` has about it here."""
    analyze = _analyze()
    copy = tmp_path / UNIT.name
    shutil.copy(UNIT, copy)
    result = subprocess.run([analyze, "verify", copy.name], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "optout-daemon.service" in line]
    if Path(INSTALLED_BINARY).exists():
        assert not lines, lines
    else:
        assert lines and all(INSTALLED_BINARY in line for line in lines), lines


def test_security_exposure_at_most_2(tmp_path: Path) -> None:
    analyze = _analyze()
    unit = _copy_with_existing_binary(tmp_path)
    result = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(unit)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    out = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for optout-daemon\.service:\s*([0-9.]+)", out)
    assert match, out
    score = float(match.group(1))
    print(f"systemd-analyze security exposure: {score}")
    sys.stdout.write("".join(f"  {line}\n" for line in out.splitlines() if line.startswith("✗")))
    assert score <= 2.0, out


def test_unit_has_the_promised_settings() -> None:
    text = UNIT.read_text(encoding="utf-8")
    settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    assert settings["Type"] == "notify"
    assert settings["Restart"] == "on-failure"
    assert settings["WatchdogSec"]
    assert settings["User"] == "optout" and "DynamicUser" not in settings  # a dedicated user, see docs/SERVICE.md
    assert settings["StateDirectory"] == settings["ConfigurationDirectory"] == "optout-daemon"
    assert settings["CapabilityBoundingSet"] == ""  # port 25 needs a drop-in, documented in the unit
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert settings[key] == "yes", key
    assert settings["ProtectSystem"] == "strict"
    assert "@system-service" in text and "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" in text
    assert "--config /etc/optout-daemon/optout.toml run" in settings["ExecStart"]
