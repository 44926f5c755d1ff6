"""Settings: the example documents every key; bad values stop start-up with one clear line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from optout_daemon.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "optout.example.toml"


def _keys(cls, prefix=""):
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        if dataclasses.is_dataclass(f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default):
            yield from _keys(type(f.default_factory()), prefix + f.name + ".")
        else:
            yield prefix + f.name


def test_example_config_loads_and_documents_every_key():
    settings = load_settings(EXAMPLE, environ={})
    assert settings.smtp.port == 8025 and settings.database.url == "sqlite:///var/optout.db"
    # Every value in the example is the built-in default (it is copied as a production config).
    assert dataclasses.replace(settings, source="") == dataclasses.replace(load_settings(None, environ={}), source="")
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    missing = []
    for key in _keys(Settings):
        section, name = key.split(".", 1)
        if name == "accounts":
            continue
        if name not in data.get(section, {}):
            missing.append(key)
    assert missing == []
    # The IMAP account keys are documented in the commented [[imap.accounts]] example.
    from optout_daemon.settings import ImapAccountSettings

    for f in dataclasses.fields(ImapAccountSettings):
        assert f"# {f.name} = " in text, f.name


def test_defaults_run_on_a_fresh_machine():
    s = load_settings(None, environ={})
    assert s.database.url == "sqlite:///var/optout.db"
    assert (s.smtp.host, s.smtp.port) == ("127.0.0.1", 8025)
    assert s.notices.maildir == "var/notices" and not s.relay_configured


def test_environment_overrides_the_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[smtp]\nport = 2525\n[mailbox]\naddresses = ["a@x.com"]\n')
    env = {"OPTOUT_SMTP_PORT": "2626", "OPTOUT_MAILBOX_ADDRESSES": "optout@carrier.com, privacy@carrier.com",
           "OPTOUT_DATABASE_URL": "postgresql+psycopg://u@h/db", "OPTOUT_SMTP_HOST": "0.0.0.0"}
    s = load_settings(cfg, environ=env)
    assert s.smtp.port == 2626 and s.smtp.host == "0.0.0.0"
    assert s.mailbox.addresses == ["optout@carrier.com", "privacy@carrier.com"]
    assert s.database.url.startswith("postgresql")


@pytest.mark.parametrize("env, needle", [
    ({"OPTOUT_SMTP_PORT": "abc"}, "smtp.port = 'abc' (from OPTOUT_SMTP_PORT) is not a whole number"),
    ({"OPTOUT_SMTP_PORT": "70000"}, "smtp.port = 70000 is not allowed"),
    ({"OPTOUT_DATABASE_URL": "mysql://x"}, "database.url = 'mysql://x' is not allowed: use sqlite"),
    ({"OPTOUT_MAILBOX_ADDRESSES": "not-an-address"}, "mailbox.addresses = 'not-an-address'"),
    ({"OPTOUT_POLICY_OPT_OUT_THRESHOLD": "1.5"}, "policy.opt_out_threshold = 1.5"),
    ({"OPTOUT_RETENTION_CONSENT_EVENT_YEARS": "0.5"}, "at least 1 year"),
    ({"OPTOUT_CLASSIFIER_KIND": "magic"}, "use model or keywords"),
    ({"OPTOUT_WORKER_STARVED_AFTER_SECONDS": "45"}, "worker.starved_after_seconds = 45.0 is not allowed: use a number"),
])
def test_bad_values_name_key_value_and_fix(env, needle):
    with pytest.raises(SettingsError) as err:
        load_settings(None, environ=env)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_key_and_bad_toml_are_refused(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[smtp]\nprot = 25\n")
    with pytest.raises(SettingsError, match="smtp.prot is not a known setting"):
        load_settings(cfg, environ={})
    cfg.write_text("[smtp\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(cfg, environ={})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_bad_config_stops_the_daemon_with_one_line(tmp_path):
    env = {"OPTOUT_SMTP_PORT": "eighty", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "optout_daemon", "run"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == ["optout-daemon: config error: smtp.port = 'eighty' (from OPTOUT_SMTP_PORT) is not a whole "
                     "number: fix it in the config file or the environment"]


def test_a_support_forward_address_must_be_an_address_outside_the_mailbox():
    from optout_daemon.settings import SettingsError

    with pytest.raises(SettingsError, match=r"policy.support_forward_address = 'support' is not allowed: use one email"):
        load_settings(None, environ={"OPTOUT_POLICY_SUPPORT_FORWARD_ADDRESS": "support"})
    with pytest.raises(SettingsError, match="that would loop"):
        load_settings(None, environ={"OPTOUT_POLICY_SUPPORT_FORWARD_ADDRESS": "Marketing@example.com"})
    assert load_settings(None, environ={"OPTOUT_POLICY_SUPPORT_FORWARD_ADDRESS": "help@example.com"}
                         ).policy.support_forward_address == "help@example.com"
