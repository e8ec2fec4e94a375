"""The per-variant manifests: loading, validation, matching (conformance.expectations)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import conformance.suites as suites
from conformance.cases import REGISTRY
from conformance.expectations import DEFAULT_DIRECTORY, ExpectationError, load, load_all

GOOD = """
[[expected]]
case = "streaming/backpressure"
outcome = "fail"
match = "\\\\d+ chunks were produced"
reason = "send() never blocks"
clause = "ASGI HTTP 2.5, Response Body"
bug = "docs/server-behaviour.md#daphne-no-backpressure"
"""


def write(tmp_path: Path, text: str, name: str = "daphne.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_entry_loads_and_matches_its_failure(tmp_path: Path) -> None:
    entries = load(write(tmp_path, GOOD))
    entry = entries["streaming/backpressure"]
    assert entry.variant == "daphne"
    assert entry.matches("AssertionError: 1219 chunks were produced")
    assert not entry.matches("AssertionError: the server grew by 45 MiB")
    assert (
        entry.describe() == "send() never blocks (ASGI HTTP 2.5, Response Body; "
        "docs/server-behaviour.md#daphne-no-backpressure)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            GOOD.replace('reason = "send() never blocks"\n', ""), "lacks reason", id="no-reason"
        ),
        pytest.param(
            GOOD.replace('reason = "send() never blocks"', 'reason = "  "'),
            "reason is empty",
            id="blank-reason",
        ),
        pytest.param(
            GOOD.replace('outcome = "fail"', 'outcome = "pass"'),
            "outcome must be",
            id="bad-outcome",
        ),
        pytest.param(
            GOOD.replace(
                'bug = "docs/server-behaviour.md#daphne-no-backpressure"',
                'bug = "x"\nseverity = "high"',
            ),
            "unknown keys severity",
            id="unknown-key",
        ),
        pytest.param(GOOD.replace("\\\\d+ chunks", "(unclosed"), "bad match regex", id="bad-regex"),
        pytest.param(GOOD + GOOD, "listed twice", id="duplicate"),
        pytest.param("[[expected]\n", "daphne.toml", id="not-toml"),
    ],
)
def test_malformed_manifests_are_refused_with_the_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ExpectationError, match=message):
        load(write(tmp_path, text))


def test_load_all_keys_manifests_by_variant(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "daphne.toml")
    write(tmp_path, "", "uvicorn-h11.toml")
    assert {k: sorted(v) for k, v in load_all(tmp_path).items()} == {
        "daphne": ["streaming/backpressure"],
        "uvicorn-h11": [],
    }


def test_the_bundled_manifests_are_valid_and_name_real_variants() -> None:
    from servers import SERVERS

    manifests = load_all(DEFAULT_DIRECTORY)
    assert manifests, "no manifest is bundled"
    assert set(manifests) <= set(SERVERS)
    for entries in manifests.values():
        for entry in entries.values():
            assert entry.reason.strip()
            assert entry.clause.strip()


def test_the_bundled_manifests_name_only_existing_cases() -> None:
    for module in pkgutil.iter_modules(suites.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"conformance.suites.{module.name}")
    for variant, entries in load_all(DEFAULT_DIRECTORY).items():
        unknown = sorted(set(entries) - set(REGISTRY))
        assert not unknown, f"{variant}.toml names unknown cases {unknown}"
