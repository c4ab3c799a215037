"""Tables that more than one command prints, built in one place (commands print; library code
never does). The per-engine yield table is `status`'s and `crawl`'s; the self-training round
table is `self-train`'s and `demo`'s.

The summaries are taken as they come (duck-typed) so the workspace layer does not import the
stages; the self-training wording is imported from `selftrain.loop` on use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.table import Table

from workspace import console

if TYPE_CHECKING:
    from selftrain.compare import PairedComparison
    from workspace.manifest import EngineYield


def engine_yield_table(yields: Iterable[EngineYield]) -> Table:
    """One row per engine: URLs found, the full-resolution share, downloads and failures."""
    table = Table(title="per-engine yield")
    for column in ("engine", "URLs found", "full-res share", "downloaded", "unique", "failed by reason"):
        table.add_column(column)
    for y in yields:
        table.add_row(y.engine, str(y.found), f"{y.full_resolution_share:.0%}", str(y.downloaded),
                      str(y.unique), ", ".join(f"{k} {v}" for k, v in sorted(y.failed.items())) or "-")
    return table


def rounds_table(summary: Any, class_names: list[str]) -> Table:
    """Per round: each class's accepted images (pseudo-labelled among them), test accuracy and
    pseudo-label precision; then the raw-crawl baseline row if there is one."""
    table = Table(title="self-training rounds")
    for column in ("round", *class_names, "accepted", "test accuracy", "pseudo-label precision"):
        table.add_column(column, justify="right")
    for r in summary.rounds:
        cells = []
        for name in class_names:
            sources = r.per_class.get(name, {})
            pseudo = sources.get("pseudo", 0)
            cells.append(f"{sum(sources.values())}" + (f" ({pseudo} pseudo)" if pseudo else ""))
        table.add_row(str(r.round), *cells, str(r.accepted), f"{r.test_accuracy:.3f}",
                      "-" if r.pseudo_precision is None else f"{r.pseudo_precision:.3f}")
    base = summary.baseline
    if base is not None:
        table.add_row("raw crawl, same budget", *(f"{base.per_class.get(n, 0)} (train)" for n in class_names), "-",
                      f"{base.test_accuracy:.3f}",
                      "-" if base.label_precision is None else f"{base.label_precision:.3f} (labels)")
    return table


def print_rounds(summary: Any, class_names: list[str]) -> None:
    """The round table, what its test can be trusted for, and the gain over the raw crawl."""
    from selftrain.loop import describe_test_labels

    console.show(rounds_table(summary, class_names))
    if summary.rounds:
        last = summary.rounds[-1]
        console.info(describe_test_labels(last.test_labels, last.test_images, last.smallest_test_class))
        held_back = summary.rounds[0].held_back
        if held_back:
            console.info(f"round 0 held back {held_back} likely off-class query labels (see the report)")
        if summary.comparison is not None:
            console.info(describe_gain(summary.comparison))


def describe_gain(c: PairedComparison) -> str:
    """The gain over the raw crawl, with what a paired test on these test images makes of it."""
    verdict = ("a real difference" if c.significant
               else "within the noise of this test set: it cannot tell these two apart")
    return (f"gain of self-training over the raw crawl: {c.gain * 100:+.1f} points ({c.accuracy_a:.3f} vs "
            f"{c.accuracy_b:.3f} on the same {c.images} test images; right only after self-training "
            f"{c.only_a}, only with the raw crawl {c.only_b}: McNemar p = {c.p_value:.2f}, {verdict})")
