"""What a run shows while it runs: a live table per variant on a terminal, else one plain line
per case; and the summary after it (the table of families by variants, what went wrong, the
files written, the exit status).

:class:`Progress` is a pytest plugin for a run in this process, and takes the shards' reports
(:meth:`Progress.expect`, :meth:`Progress.announce`, :meth:`Progress.note`) for a concurrent
run.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import pytest

from .parallel import Shard

if TYPE_CHECKING:
    from .report.model import CaseRecord, Result

__all__ = ["Progress"]


class Progress:
    """A pytest plugin showing the run: a live table on a terminal, else plain lines."""

    def __init__(self, out: IO[str], *, live: bool, quiet: bool) -> None:
        self.out = out
        self.live_mode = live
        self.quiet = quiet
        self.document: dict[str, Any] | None = None
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.current: dict[str, str] = {}
        self.variant_of_node: dict[str, str] = {}
        self.finished = 0
        self.started = False
        self._live: Any = None

    # pytest hooks

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from .plugin import case_of, variant_of

        for item in session.items:
            variant, found = variant_of(item), case_of(item)
            if variant is None or found is None:
                continue
            self.variant_of_node[item.nodeid] = variant.name
            self.totals[variant.name] = self.totals.get(variant.name, 0) + 1
            self.done.setdefault(variant.name, 0)
            self.counts.setdefault(variant.name, {})

    def _start(self) -> None:
        """Show the display, once the first case starts (collection went well)."""
        if self.quiet or self.started:
            return
        self.started = True
        if self.live_mode and self.totals:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.out, force_terminal=True)
            self._live = Live(
                self._table(),
                console=console,
                refresh_per_second=8,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        elif self.totals:
            total = sum(self.totals.values())
            names = ", ".join(f"{n} ({c})" for n, c in self.totals.items())
            self._print(f"asgi-conformance: {total} case runs on {names}")

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self._start()
        variant = self.variant_of_node.get(nodeid)
        if variant is not None:
            self.current[variant] = location[2]
            self._refresh()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from .report.model import CaseRecord
        from .session import RECORD

        for name, value in report.user_properties:
            if name != RECORD or report.when == "teardown" or not isinstance(value, dict):
                continue
            if (report.nodeid, report.when) in getattr(self, "_seen", set()):
                continue
            self._note(report, CaseRecord.from_json(value))

    def _note(self, report: pytest.TestReport, record: CaseRecord) -> None:
        seen: set[tuple[str, str]] = getattr(self, "_seen", set())
        seen.add((report.nodeid, report.when))
        self._seen = seen
        self.note(
            record.variant,
            record.case,
            str(record.verdict),
            record.duration,
            record.iteration,
        )

    # the shards of a concurrent run report here (conformance.parallel)

    def expect(self, shards: Sequence[Shard], jobs: int) -> None:
        """Show the display for a run of shards (their sizes come as each one starts)."""
        for shard in shards:
            self.totals.setdefault(shard.variant, 0)
            self.done.setdefault(shard.variant, 0)
            self.counts.setdefault(shard.variant, {})
        if not self.quiet and not self.live_mode:
            names = ", ".join(shard.name for shard in shards)
            variants = len(self.totals)
            split = f" in {len(shards)} shards" if len(shards) != variants else ""
            self._print(f"asgi-conformance: {variants} variants{split}, {jobs} at a time: {names}")
            self.started = True
        self._start()

    def announce(self, variant: str, total: int) -> None:
        """A shard of ``variant`` knows how many case runs it has (its variant's add up)."""
        self.totals[variant] = self.totals.get(variant, 0) + total
        self._refresh()

    def note(self, variant: str, case: str, verdict: str, duration: float, iteration: int) -> None:
        """One case run finished."""
        self.done[variant] = self.done.get(variant, 0) + 1
        counts = self.counts.setdefault(variant, {})
        counts[verdict] = counts.get(verdict, 0) + 1
        self.finished += 1
        if self.quiet:
            return
        if self._live is None:
            total = sum(self.totals.values())
            again = f" run {iteration}" if iteration > 1 else ""
            self._print(
                f"[{self.finished:>4}/{total}] {variant:<18} {case}{again}: {verdict} "
                f"({duration:.2f} s)"
            )
        else:
            self._refresh()

    def stop(self) -> None:
        """Close the live display (the run is over)."""
        if self._live is not None:
            self.current.clear()
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from .plugin import DOCUMENT

        self.document = session.config.stash.get(DOCUMENT, None)
        self.stop()

    # display

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())

    def _table(self) -> Any:
        from rich import box
        from rich.table import Table

        from .report.model import LABELS, VERDICTS

        table = Table(
            title="asgi-conformance", title_justify="left", expand=False, box=box.SIMPLE_HEAD
        )
        width = max((len(v) for v in self.totals), default=7)
        table.add_column("variant", style="bold", no_wrap=True, min_width=width)
        table.add_column("done", justify="right")
        styles = {
            "pass": "green",
            "expected-failure": "yellow",
            "fail": "bold red",
            "unexpected-pass": "bold magenta",
            "timeout": "bold dark_orange",
            "not-applicable": "grey50",
            "harness-error": "bold white on red",
        }
        for verdict in VERDICTS:
            table.add_column(
                LABELS[verdict], justify="right", style=styles[str(verdict)], no_wrap=True
            )
        table.add_column("running", no_wrap=True, overflow="ellipsis", max_width=48)
        for variant, total in self.totals.items():
            counts = self.counts.get(variant, {})
            done = self.done.get(variant, 0)
            table.add_row(
                variant,
                f"{done}/{total}",
                *(str(counts.get(str(v), 0) or "") for v in VERDICTS),
                self.current.get(variant, "") if done < total else ("done" if total else ""),
            )
        return table

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def finish(self, document: Mapping[str, Any], args: argparse.Namespace) -> None:
        """The summary after the run: the table, what went wrong, the files, the status."""
        from .report.model import Result
        from .report.table import compatibility_table

        run = document["run"]
        for error in run["errors"]:
            self._print(f"\n{error['kind']} error in {error.get('where', '')}:\n{error['message']}")
        for variant in document["variants"]:
            if variant.get("error"):
                self._print(f"\n{variant['name']} did not start: {variant['error']}")
                for line in (variant.get("error_log") or "").splitlines()[-6:]:
                    self._print(f"  | {line}")
            stop = variant.get("stop") or {}
            if stop.get("graceful") is False:
                self._print(
                    f"{variant['name']} did not stop gracefully (exit code {stop.get('exit_code')})"
                )
        results = [Result.from_json(r) for r in document["results"]]
        if results:
            self._print("")
            self._print(compatibility_table(results))
        self._unexpected(results)
        for label, path in (
            ("JSON", args.json),
            ("JUnit XML", args.junit),
            ("HTML", args.html),
            ("Markdown", args.markdown),
        ):
            if path:
                self._print(f"{label}: {path}")
        self._print(
            f"\nexit status {run['exit_code']}: {run['exit_reason']} ({run['duration']:.1f} s)"
        )

    def _unexpected(self, results: Sequence[Result]) -> None:
        """Each result that did not match (harness errors grouped by variant and message)."""
        from .report.model import BAD, Verdict

        bad = [r for r in results if r.verdict in BAD]
        errors: dict[tuple[str, str], list[str]] = {}
        for r in results:
            if r.verdict is Verdict.ERROR:
                first = (r.message or "").strip().splitlines()[:1] or [""]
                errors.setdefault((r.variant, first[0][:300]), []).append(r.case)
        if bad or errors:
            self._print("\nnot as expected:")
        for (variant, why), cases in errors.items():
            self._print(f"  {variant}: {len(cases)} harness error(s), e.g. {cases[0]}")
            self._print(f"    {why}")
        for r in bad[:50]:
            lines = (r.message or "").strip().splitlines()
            self._print(f"  {r.variant} {r.case}: {r.verdict}")
            if lines:
                self._print(f"    {lines[0][:300]}")
            if r.reproduce:
                self._print(f"    reproduce: {r.reproduce}")
        if len(bad) > 50:
            self._print(f"  ... and {len(bad) - 50} more")
