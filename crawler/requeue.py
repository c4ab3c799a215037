"""Which earlier failures a rerun tries again.

A failure that depends on a setting (`private_address`, `too_large`, `timeout`,
`connection_error`, `robots_noai`, `thumbnail_only`) goes back to `pending` when the current
settings would now allow it: `--allow-private` given, a larger size cap, longer timeouts, more
retries, noai no longer respected, thumbnails allowed. The settings a candidate failed under are
saved with it (`candidates.policy`); rows from before that column count as failed under the
defaults. Permanent fates (`bad_url`, `http_404`, `not_an_image`, `blocked_address`, ...) are
retried only with `--retry-failed`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict

from crawler.http import HttpPolicy
from workspace.catalog import Catalog, utc_now

POLICY_FIELDS = ("allow_private", "respect_noai", "max_bytes", "connect_timeout", "read_timeout", "deadline",
                 "retries")
TIMEOUTS = ("connect_timeout", "read_timeout", "deadline")

# reason -> (settings it failed under, current settings, thumbnails allowed now) -> retry?
Rule = Callable[[dict, HttpPolicy, bool], bool]
RULES: dict[str, Rule] = {
    "private_address": lambda old, new, thumbs: new.allow_private and not old["allow_private"],
    "robots_noai": lambda old, new, thumbs: old["respect_noai"] and not new.respect_noai,
    "too_large": lambda old, new, thumbs: new.max_bytes > old["max_bytes"],
    "timeout": lambda old, new, thumbs: any(getattr(new, f) > old[f] for f in TIMEOUTS),
    "connection_error": lambda old, new, thumbs: (new.retries > old["retries"]
                                                  or new.connect_timeout > old["connect_timeout"]),
    "thumbnail_only": lambda old, new, thumbs: thumbs,
}


def policy_record(policy: HttpPolicy) -> str:
    """The settings saved with a failed candidate."""
    return json.dumps({name: getattr(policy, name) for name in POLICY_FIELDS}, sort_keys=True)


def failed_under(recorded: str | None) -> dict:
    """The settings a row failed under; the defaults for rows saved without them."""
    defaults = {name: value for name, value in asdict(HttpPolicy()).items() if name in POLICY_FIELDS}
    try:
        saved = json.loads(recorded) if recorded else {}
    except ValueError:
        saved = {}
    return {**defaults, **{k: v for k, v in saved.items() if k in POLICY_FIELDS}}


def would_now_allow(reason: str | None, recorded: str | None, policy: HttpPolicy, allow_thumbnails: bool) -> bool:
    rule = RULES.get(reason or "")
    return bool(rule and rule(failed_under(recorded), policy, allow_thumbnails))


def requeue_failures(catalog: Catalog, classes: list[str], policy: HttpPolicy, allow_thumbnails: bool,
                     retry_failed: bool = False) -> dict[str, int]:
    """Put back to `pending` the failed/skipped candidates of `classes` that the current settings
    allow (every one with `retry_failed`); returns how many, by their old reason."""
    marks = ",".join("?" * len(classes))
    rows = catalog.all(f"SELECT id, reason, policy FROM candidates WHERE status IN ('failed', 'skipped')"
                       f" AND class IN ({marks})", classes)
    chosen = [r for r in rows if retry_failed or would_now_allow(r["reason"], r["policy"], policy, allow_thumbnails)]
    now = utc_now()
    with catalog.transaction() as conn:
        conn.executemany("UPDATE candidates SET status = 'pending', reason = NULL, policy = NULL, updated_at = ?"
                         " WHERE id = ? AND status IN ('failed', 'skipped')", [(now, r["id"]) for r in chosen])
    return dict(Counter(r["reason"] or "unknown" for r in chosen))
