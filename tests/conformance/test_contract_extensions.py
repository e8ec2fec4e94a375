"""The extensions family's contract endpoints and break apps, driven in process.

The in-process driver plays a server that lists what the test says (and refuses every
extension message it does not know), so the endpoints' fallbacks and the emulating breaks'
output can be checked without a real server.
"""

from __future__ import annotations

import pytest

from conformance.broken.extensions import (
    debug_listed,
    spec_2_4_claimed,
    tls_malformed,
    zerocopysend_emulated,
    zerocopysend_offset_ignored,
)
from conformance.capabilities import Advertised
from conformance.contract import app
from conformance.contract._common import pattern
from conformance.contract.extensions import (
    ADVERTISED,
    FILE_SIZE,
    UNLISTED_BODY,
    ZEROCOPY_PARTS,
    file_path,
    zerocopy_expected,
)
from reference_app.testing import ASGIDriver
from reference_app.types import ASGIApp


def test_the_shared_file_is_the_pattern_and_written_once() -> None:
    path = file_path()
    assert file_path() == path
    with open(path, "rb") as file:
        assert file.read() == pattern(FILE_SIZE)


def test_the_zerocopysend_body_is_its_parts_of_the_file() -> None:
    head, (offset, count), position, tail = ZEROCOPY_PARTS
    expected = zerocopy_expected()
    assert expected.startswith(head)
    assert expected.endswith(tail)
    assert len(expected) == len(head) + count + (FILE_SIZE - position) + len(tail)
    assert expected[len(head) : len(head) + 4] == pattern(offset + 4)[offset:]


@pytest.mark.parametrize("path", ["pathsend", "zerocopysend", "early-hint"])
async def test_an_endpoint_whose_extension_is_unlisted_sends_nothing_of_it(path: str) -> None:
    result = await ASGIDriver(app).get(f"/raw/extensions/{path}")
    assert (result.status, result.body) == (200, UNLISTED_BODY)


async def _advertised(wrapped: ASGIApp) -> Advertised:
    result = await ASGIDriver(wrapped, extensions={}).get(ADVERTISED)
    return Advertised.from_json(result.json())


async def test_the_listing_breaks_change_only_what_they_say() -> None:
    assert (await _advertised(app)).extensions == ()
    assert (await _advertised(debug_listed)).extensions == ("http.response.debug",)
    tls = (await _advertised(tls_malformed)).tls or ()
    assert {f.name: f.type for f in tls}["tls_version"] == "str"
    assert (await _advertised(spec_2_4_claimed)).spec_version == "2.4"


async def test_zerocopysend_emulated_sends_the_parts_and_the_broken_one_does_not() -> None:
    good = await ASGIDriver(zerocopysend_emulated).get("/raw/extensions/zerocopysend")
    assert good.body == zerocopy_expected()
    bad = await ASGIDriver(zerocopysend_offset_ignored).get("/raw/extensions/zerocopysend")
    assert len(bad.body) == len(good.body)
    assert bad.body != good.body
