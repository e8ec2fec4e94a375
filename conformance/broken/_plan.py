"""What the proof runs: targets (servers with their cases) packed into pytest processes.

A *target* is one server of a proof run: a variant as it is (``clean``), a break on its
variant, or a legal variation on its variant. Its cases:

* a break runs the cases it claims (they must fail); with ``exact``, every case of their
  families its variant can run (the others must keep their clean verdict);
* a legal variation runs every case its variant can run, but those of the families it
  ``spares``; ASGI ones of one variant run stacked, one server taking all their freedoms;
* a clean variant runs the union of what its breaks and legal variations run.

Each target is one ``--server`` command template (``break.NAME=... -m
conformance.broken._launch break NAME ...``); a *batch* is one pytest process running
several targets, each on its own cases (``--proof-plan``). Batches of breaks shorten the
deadlines (:data:`BREAK_FACTOR`): their failing cases wait them out.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from servers import Capability, ServerSpec, available

from ..cases import Case
from . import Break, Legal, configured_variants
from ._launch import STACKED, Entry, resolve_variant, resolved_args
from .apps import stackable

__all__ = [
    "BREAK_FACTOR",
    "Batch",
    "Target",
    "applicable",
    "batches",
    "installed_variants",
    "legal_target",
    "stacks",
    "targets",
]

#: The family of WebSocket cases, which no HTTP middleware can change.
WEBSOCKET: Final = "websocket"
#: The timeout factor of batches of breaks (``ASGI_CONFORMANCE_TIMEOUT_FACTOR``).
BREAK_FACTOR: Final = 0.5
#: The deadline of one case in a batch of breaks (``--case-timeout``), and in others.
BREAK_CASE_TIMEOUT: Final = 20.0
CASE_TIMEOUT: Final = 60.0
#: Estimated seconds: per server start, per passing case, per case that waits out a deadline.
_START, _CASE, _CATCH = 1.0, 0.4, 3.0
#: About how long one batch should take (seconds): long enough to pay for pytest's start.
_BATCH: Final = 100.0


@dataclass(frozen=True, slots=True)
class Target:
    """One server of a proof run and the cases it runs.

    Attributes:
        kind: ``"clean"``, ``"break"`` or ``"legal"``.
        name: the variant (clean), break or legal variation.
        variant: the variant underneath (built-in or configured).
        spec: the built-in variant the server is (its protocol and capabilities).
        cases: the case ids to run.
        claims: how many of them are expected to fail (for the time estimate).
        members: the legal variations of a stack (``name`` is then ``stack-N``).
        entry: what the launcher starts (default: the variant as it is).
    """

    kind: str
    name: str
    variant: str
    spec: ServerSpec
    cases: tuple[str, ...]
    claims: int = 0
    members: tuple[str, ...] = ()
    entry: Entry | None = None

    @property
    def id(self) -> str:
        """The variant name of the target in the run's results, e.g. ``break.held-chunks``."""
        return f"{self.kind}.{self.name}"

    @property
    def cost(self) -> float:
        """Estimated seconds."""
        return _START + _CASE * len(self.cases) + _CATCH * self.claims

    def server_option(self) -> str:
        """The ``--server`` command template that starts it."""
        entry = self.entry or Entry(self.variant, None, None)
        command = " ".join(
            [
                "{python} -m conformance.broken._launch",
                *(shlex.quote(word) for word in resolved_args(entry)),
                "--host {host} --port {port} --app {app}",
            ]
        )
        if self.spec.tls:
            command += " --certfile {certfile} --keyfile {keyfile}"
        caps = ",".join(sorted(str(c) for c in self.spec.capabilities - {Capability.HTTP2}))
        option = f"{self.id}={command};caps={caps};protocol={self.spec.protocol}"
        return option + (";tls=yes" if self.spec.tls else "")


@dataclass(frozen=True, slots=True)
class Batch:
    """One pytest process: targets, and the timeout factor of its clients and servers."""

    targets: tuple[Target, ...]
    factor: float
    case_timeout: float

    @property
    def cost(self) -> float:
        """Estimated seconds."""
        return sum(target.cost for target in self.targets)


def installed_variants() -> dict[str, ServerSpec]:
    """Every variant a target can run on here: built-in installed ones, and configured ones."""
    variants = dict(available())
    for configured in configured_variants():
        if configured.base in variants:
            variants[configured.name] = variants[configured.base]
    return variants


def applicable(case: Case, spec: ServerSpec) -> bool:
    """Whether ``spec`` has every capability ``case`` requires."""
    return case.requires <= spec.capabilities


def _family_cases(
    families: Iterable[str], spec: ServerSpec, registry: dict[str, Case]
) -> tuple[str, ...]:
    wanted = set(families)
    return tuple(
        sorted(c.id for c in registry.values() if c.family in wanted and applicable(c, spec))
    )


def targets(
    breaks: Sequence[Break],
    legal: Sequence[Legal],
    registry: dict[str, Case],
    *,
    exact: bool = False,
    stack: bool = True,
) -> list[Target]:
    """The targets for ``breaks`` and ``legal`` whose variants are installed, clean ones last.

    A break runs the cases it claims; with ``exact``, every case of their families. With
    ``stack``, the ASGI legal variations of a variant run stacked (see :func:`stacks`).
    """
    variants = installed_variants()
    found: list[Target] = []
    for entry in breaks:
        if entry.variant not in variants:
            continue
        spec = resolve_variant(entry.variant)[0]
        families = {case.partition("/")[0] for case in entry.catches}
        cases = _family_cases(families, spec, registry)
        if not exact:
            cases = tuple(case for case in cases if case in entry.catches)
        claims = len(entry.catches & set(cases))
        launch = Entry(entry.variant, entry.app, entry.proxy)
        found.append(Target("break", entry.name, entry.variant, spec, cases, claims, entry=launch))
    found += _legal_targets([v for v in legal if v.variant in variants], registry, stack)
    clean: dict[str, set[str]] = {}
    for target in found:
        clean.setdefault(target.variant, set()).update(target.cases)
    for variant, union in clean.items():
        spec = resolve_variant(variant)[0]
        found.append(Target("clean", variant, variant, spec, tuple(sorted(union))))
    return found


def stacks(legal: Sequence[Legal]) -> list[tuple[Legal, ...]]:
    """Legal variations grouped to run together: ASGI ones of one variant, one stack each.

    A legal server may take several freedoms at once, so one run of a stack stands for a run
    of each member; a stack that fails a case is then run one member at a time (see
    :func:`conformance.broken._runner.run`). Proxies and apps not made by
    :func:`conformance.broken.apps.around` run alone.
    """
    groups: dict[str, list[Legal]] = {}
    alone: list[tuple[Legal, ...]] = []
    for variation in legal:
        if variation.app is not None and stackable(variation.app):
            groups.setdefault(variation.variant, []).append(variation)
        else:
            alone.append((variation,))
    return [tuple(group) for group in groups.values()] + alone


def legal_target(
    group: Sequence[Legal], spec: ServerSpec, cases: tuple[str, ...], number: int = 1
) -> Target:
    """The target running ``group`` (one variation, or a stack of them) on ``cases``."""
    first = group[0]
    if len(group) == 1:
        entry = Entry(first.variant, first.app, first.proxy)
        return Target("legal", first.name, first.variant, spec, cases, entry=entry)
    apps = tuple(v.app for v in group if v.app is not None)
    entry = Entry(first.variant, STACKED, None, apps)
    members = tuple(v.name for v in group)
    name = f"stack-{number}"
    return Target("legal", name, first.variant, spec, cases, members=members, entry=entry)


def _spares(variation: Legal) -> set[str]:
    """What ``variation`` spares: its own list, and WebSocket for an HTTP-only middleware."""
    spared = set(variation.spares)
    if variation.app is not None and stackable(variation.app):
        spared.add(WEBSOCKET)  # apps.around() passes every non-HTTP scope through untouched
    return spared


def _legal_targets(legal: Sequence[Legal], registry: dict[str, Case], stack: bool) -> list[Target]:
    found = []
    groups = stacks(legal) if stack else [(variation,) for variation in legal]
    for number, group in enumerate(groups, 1):
        spec = resolve_variant(group[0].variant)[0]
        every = {c.family for c in registry.values()}
        spares = [_spares(variation) for variation in group]
        families = set().union(*(every - spared for spared in spares))
        spared = set.intersection(*spares)
        cases = tuple(c for c in _family_cases(families, spec, registry) if c not in spared)
        found.append(legal_target(group, spec, cases, number))
    return found


def _pieces(target: Target) -> list[Target]:
    """``target`` cut into pieces of about one batch each (cases dealt out in turn)."""
    count = max(1, min(len(target.cases), round(target.cost / _BATCH)))
    if count == 1:
        return [target]
    return [
        replace(
            target,
            cases=target.cases[index::count],
            claims=len(set(target.cases[index::count])) * target.claims // len(target.cases),
        )
        for index in range(count)
    ]


def batches(found: Sequence[Target], jobs: int) -> list[Batch]:
    """Pack targets into batches of about equal cost, longest first (breaks apart).

    A long target is cut into pieces (its server is then started once per piece), so that
    no batch is much longer than the others; pieces of one target in one batch are merged.
    """
    packed: list[Batch] = []
    groups = (
        ([t for t in found if t.kind == "break"], BREAK_FACTOR, BREAK_CASE_TIMEOUT),
        ([t for t in found if t.kind != "break"], 1.0, CASE_TIMEOUT),
    )
    for group, factor, timeout in groups:
        pieces = [piece for target in group for piece in _pieces(target)]
        if not pieces:
            continue
        total = sum(t.cost for t in pieces)
        # A multiple of ``jobs``: the batches then run in full rounds.
        count = min(len(pieces), jobs * max(1, math.ceil(total / (_BATCH * jobs))))
        bins: list[list[Target]] = [[] for _ in range(count)]
        for piece in sorted(pieces, key=lambda t: -t.cost):
            min(bins, key=lambda b: sum(t.cost for t in b)).append(piece)
        packed += [Batch(_merged(b), factor, timeout) for b in bins if b]
    return sorted(packed, key=lambda b: -b.cost)


def _merged(pieces: list[Target]) -> tuple[Target, ...]:
    by_id: dict[str, Target] = {}
    for piece in pieces:
        if piece.id in by_id:
            kept = by_id[piece.id]
            piece = replace(kept, cases=kept.cases + piece.cases, claims=kept.claims + piece.claims)
        by_id[piece.id] = piece
    return tuple(by_id.values())
