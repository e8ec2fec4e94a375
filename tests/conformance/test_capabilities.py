"""What a server advertises, read from its scope and compared with its variant's declaration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.capabilities import (
    EXTENSIONS,
    Advertised,
    CapabilityCheck,
    ObservationError,
    check,
    spec_version_tuple,
)
from conformance.contract.extensions import advertised_payload
from servers import Capability, RunningServer, ServerSpec, get, launch

C = Capability
HERE = Path(__file__).parent


def payload(*names: str, spec: str | None = "2.3", tls: Any = None) -> dict[str, Any]:
    """The advertisement of a scope listing ``names``."""
    extensions: dict[str, Any] = {name: {} for name in names}
    if tls is not None:
        extensions["tls"] = tls
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec},
        "http_version": "2",
        "scheme": "https",
        "headers": [],
        "extensions": extensions,
    }
    return advertised_payload(scope)


def test_the_contract_reports_names_versions_and_typed_tls_entries() -> None:
    tls = {"server_cert": None, "client_cert_chain": ["PEM"], "tls_version": 0x0304}
    advertised = Advertised.from_json(payload("http.response.trailers", tls=tls))
    assert advertised.extensions == ("http.response.trailers", "tls")
    assert (advertised.asgi_version, advertised.spec_version) == ("3.0", "2.3")
    assert advertised.http_version == "2"
    fields = {f.name: f for f in advertised.tls or ()}
    assert (fields["server_cert"].type, fields["server_cert"].value) == ("NoneType", None)
    assert fields["client_cert_chain"].items == ("str",)
    assert (fields["tls_version"].type, fields["tls_version"].value) == ("int", 0x0304)
    assert advertised.capabilities == {C.TRAILERS, C.TLS_SCOPE}


def test_a_scope_without_extensions_advertises_none() -> None:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "headers": []}
    advertised = Advertised.from_json(advertised_payload(scope))
    assert advertised.extensions == ()
    assert advertised.spec_version is None
    assert advertised.tls is None
    assert advertised.spec_at_least(2, 0)
    assert not advertised.spec_at_least(2, 1)


def test_a_body_that_is_no_advertisement_is_refused() -> None:
    with pytest.raises(ObservationError, match="not an advertisement"):
        Advertised.from_json({"extensions": []})


@pytest.mark.parametrize(
    ("text", "version"),
    [("2.4", (2, 4)), ("2.10", (2, 10)), (None, (2, 0)), ("x", (2, 0)), ("3", (3,))],
)
def test_spec_versions_compare_as_numbers(text: object, version: tuple[int, ...]) -> None:
    assert spec_version_tuple(text) == version


def test_every_extension_capability_names_one_extension() -> None:
    assert len(set(EXTENSIONS.values())) == len(EXTENSIONS)
    assert all(isinstance(c, Capability) for c in EXTENSIONS)


def test_a_matching_listing_has_no_difference() -> None:
    advertised = Advertised.from_json(payload("http.response.pathsend", "websocket.http.response"))
    found = CapabilityCheck("granian", frozenset({C.PATHSEND}), advertised)
    assert found.matches
    assert found.differences() == []
    assert found.describe() == "granian: advertises what it declares"


def test_a_dropped_an_added_and_an_unknown_extension_are_each_a_difference() -> None:
    advertised = Advertised.from_json(
        payload(
            "http.response.trailers",
            "http.response.debug",
            "websocket.http.response",
            "x.vendor.feature",
        )
    )
    found = CapabilityCheck("x", frozenset({C.PUSH, C.TRAILERS}), advertised)
    assert not found.matches
    assert found.missing == {C.PUSH}
    assert found.unexpected == frozenset()
    assert found.differences() == [
        "declares push but does not list http.response.push",
        "lists http.response.debug, which no capability stands for",
    ]
    document = found.document()
    assert document["matches"] is False
    assert document["declared"] == ["push", "trailers"]
    assert document["scope"]["extensions"] == [
        "http.response.debug",
        "http.response.trailers",
        "websocket.http.response",
        "x.vendor.feature",
    ]


def test_an_unread_advertisement_is_no_difference_but_says_why() -> None:
    found = CapabilityCheck("x", frozenset({C.PUSH}), None, "GET answered 404")
    assert found.matches
    assert found.describe() == "x: what the server advertises is unknown (GET answered 404)"
    assert found.document()["scope"] is None


@pytest.fixture(scope="module")
def uvicorn() -> Iterator[RunningServer]:
    with launch(get("uvicorn-h11"), "conformance.contract:app") as server:
        yield server


def test_check_reads_a_real_server_and_finds_its_declaration(uvicorn: RunningServer) -> None:
    found = check(uvicorn)
    assert found.error is None
    assert found.advertised is not None
    assert found.advertised.spec_version == "2.3"
    assert found.matches, found.describe()


def test_check_reports_a_declaration_the_server_does_not_keep(tmp_path: Path) -> None:
    base = get("uvicorn-h11")
    claiming = ServerSpec(
        "uvicorn-claiming",
        "uvicorn",
        "uvicorn",
        base.protocol,
        base.argv,
        capabilities=base.capabilities | {C.TRAILERS},
    )
    with launch(claiming, "conformance.contract:app", log_dir=tmp_path) as server:
        found = check(server)
    assert found.missing == {C.TRAILERS}
    assert "declares trailers but does not list http.response.trailers" in found.describe()


async def test_check_works_from_inside_an_event_loop(uvicorn: RunningServer) -> None:
    assert check(uvicorn).matches


def test_an_app_without_the_endpoint_is_an_unread_advertisement(tmp_path: Path) -> None:
    servers_tests = HERE.parent / "servers"
    with launch(
        get("uvicorn-h11"), "asgi_apps:app", cwd=str(servers_tests), log_dir=tmp_path
    ) as server:
        found = check(server)
    assert found.advertised is None
    assert found.error is not None
    assert "not an advertisement" in found.error
