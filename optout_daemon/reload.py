"""SIGHUP: what a running daemon (and each of its worker processes) can take from a new config.

Log level and format, the policy thresholds, the re-confirmation interval and the notice templates
change in place; everything else (ports, database, mailboxes, classifier...) needs a restart, and
the `reloaded` log line says which sections those are.
"""

from __future__ import annotations

from typing import Any

from optout_daemon.settings import Settings, SettingsError, load_settings

RELOADABLE_POLICY = ("opt_out_threshold", "opt_in_threshold", "opt_out_floor", "ignore_unrelated_threshold",
                     "opt_in_floor", "trusted_authserv_ids", "review_deadline_hours", "support_forward_address")
RESTART_SECTIONS = ("database", "smtp", "mailbox", "imap", "console", "classifier", "worker", "retention",
                    "service")


def apply_reload(old: Settings, new: Settings) -> tuple[list[str], list[str]]:
    """Copy what can change safely from `new` into `old` (the object everything holds); return
    (what was reloaded, what needs a restart)."""
    from optout_daemon.logs import configure_logging  # noqa: PLC0415
    from optout_daemon.notify.compose import clear_caches  # noqa: PLC0415

    reloaded: list[str] = []
    if (new.logging.level, new.logging.format) != (old.logging.level, old.logging.format):
        configure_logging(new.logging.level, new.logging.format, old.logging.debug_unredacted)
        old.logging.level, old.logging.format = new.logging.level, new.logging.format
        reloaded.append("logging")
    if any(getattr(new.policy, k) != getattr(old.policy, k) for k in RELOADABLE_POLICY):
        for key in RELOADABLE_POLICY:
            setattr(old.policy, key, getattr(new.policy, key))
        reloaded.append("policy thresholds")
    old.notices.reconfirm_interval_hours = new.notices.reconfirm_interval_hours
    clear_caches()
    reloaded.append("notice templates")
    restart = [section for section in RESTART_SECTIONS if getattr(new, section) != getattr(old, section)]
    restart += [f"policy.{k}" for k in ("default_consent", "default_region", "account_pattern",
                                         "address_of_record_days")
                if getattr(new.policy, k) != getattr(old.policy, k)]
    if new.logging.debug_unredacted != old.logging.debug_unredacted:
        restart.append("logging.debug_unredacted")
    return reloaded, restart


def reload_from_source(current: Settings, log: Any) -> tuple[list[str], list[str]] | None:
    """Read the config again from where `current` came from and apply it; None (logged) when the
    new file is bad: the daemon then goes on with what it has."""
    try:
        new = load_settings(current.source if current.source != "defaults" else None)
    except SettingsError as exc:
        log.error("reload_failed", error=str(exc))
        return None
    return apply_reload(current, new)


def reload_pipeline(current: Settings, pipeline: Any, log: Any) -> tuple[list[str], list[str]] | None:
    """reload_from_source, then the pipeline's decide policy rebuilt from the reloaded settings (the
    daemon's own pipeline and each worker process's call this on SIGHUP)."""
    from optout_daemon.pipeline.run import policy_from_settings  # noqa: PLC0415

    result = reload_from_source(current, log)
    if result is not None and pipeline is not None:
        pipeline.decide_policy = policy_from_settings(current)
    return result
