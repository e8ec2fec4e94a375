"""Every Python example of the README runs as written and does what the README says.

Each ```python block of README.md is an example. It gets the id of the heading it sits under
(``json-limits``; a second block under the same heading is ``json-limits-2``) and one
parametrised test, which runs the block as written, in a scratch working directory, and then
checks what the README says it does (:data:`CHECKS`, by id). An example added later is
collected on its own and fails until a check is written for it. A block that is deliberately
not runnable (a fragment) says so on the line right before its fence,
``<!-- not-run: the reason -->``, and is reported as skipped with that reason. Python code in
another fence (```py, ```python3, ...) fails :func:`test_no_python_example_hides_in_another_fence`,
so no example escapes the tests.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

import pytest

from conformance.sse import parse
from reference_app import App, JSONHandler, Request, Response
from reference_app.testing import ASGIDriver, Result

README: Final = Path(__file__).resolve().parent.parent / "README.md"

#: Fence languages GitHub highlights as Python: a block in one of them would not be run.
PYTHON_ALIASES: Final = frozenset({"py", "py3", "python3", "pycon", "ipython"})

_FENCE: Final = re.compile(r"^```(?P<language>[^\s`]*)")  # the language, then maybe attributes
_NOT_RUN: Final = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.+?)\s*-->$")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block of a Markdown document.

    Attributes:
        language: the fence's info string (``python``, ``sh``, or empty).
        line: the 1-based line of the opening fence.
        heading: the text of the last heading before the block.
        code: the block's text, without the fences.
        not_run: the reason of a ``<!-- not-run: ... -->`` line right before the fence, if any.
    """

    language: str
    line: int
    heading: str
    code: str
    not_run: str | None


@dataclass(frozen=True, slots=True)
class Example:
    """A ```python block, named after its heading (numbered from the second one under it)."""

    id: str
    block: Block


def fenced_blocks(markdown: str) -> list[Block]:
    """Every fenced block of ``markdown``, in order, with the heading it sits under."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    heading = ""
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            if lines[index].startswith("#"):
                heading = lines[index].lstrip("#").strip()
            index += 1
            continue
        end = next(
            (i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), len(lines)
        )
        marker = _NOT_RUN.match(lines[index - 1].strip()) if index else None
        code = "".join(f"{line}\n" for line in lines[index + 1 : end])
        reason = marker["reason"] if marker else None
        blocks.append(Block(opening["language"], index + 1, heading, code, reason))
        index = end + 1
    return blocks


def examples(blocks: list[Block]) -> list[Example]:
    """The ```python blocks, each with the slug of its heading as its id (numbered if taken)."""
    found: list[Example] = []
    seen: dict[str, int] = {}
    for block in blocks:
        if block.language != "python":
            continue
        slug = re.sub(r"[^a-z0-9]+", "-", block.heading.lower()).strip("-") or "top"
        seen[slug] = seen.get(slug, 0) + 1
        found.append(Example(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}", block))
    return found


BLOCKS: Final = fenced_blocks(README.read_text(encoding="utf-8"))
EXAMPLES: Final = examples(BLOCKS)


def run(example: Example, **given: Any) -> dict[str, Any]:
    """Execute the example as written (``given`` names what it uses but does not define).

    The code is compiled at its own line of README.md, so a traceback points into the README.
    """
    code = "\n" * example.block.line + example.block.code
    namespace: dict[str, Any] = {"__name__": f"readme_{example.id.replace('-', '_')}", **given}
    exec(compile(code, str(README), "exec"), namespace)
    return namespace


Check = Callable[[Example], Awaitable[None]]

#: What each example is checked to do, by example id.
CHECKS: Final[dict[str, Check]] = {}


def check(example_id: str) -> Callable[[Check], Check]:
    """Register the check of the example ``example_id``."""

    def register(function: Check) -> Check:
        CHECKS[example_id] = function
        return function

    return register


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(
            e,
            id=e.id,
            marks=[pytest.mark.skip(reason=e.block.not_run)] if e.block.not_run else [],
        )
        for e in EXAMPLES
    ],
)
async def test_the_readme_example_does_what_the_readme_says(
    example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths of an example land in a scratch directory
    verify = CHECKS.get(example.id)
    if verify is None:
        run(example)
        pytest.fail(
            f"README.md line {example.block.line}: the example {example.id!r} runs, but nothing "
            "checks what it does: add its check to CHECKS in tests/test_readme.py (or put "
            "<!-- not-run: why --> right before its fence if it is not meant to run)"
        )
    await verify(example)


def test_the_readme_has_examples_with_distinct_ids() -> None:
    ids = [e.id for e in EXAMPLES]
    assert ids, "no ```python block found in README.md"
    assert len(set(ids)) == len(ids)


def test_no_python_example_hides_in_another_fence() -> None:
    hidden = [f"line {b.line}: ```{b.language}" for b in BLOCKS if b.language in PYTHON_ALIASES]
    assert not hidden, f"use a ```python fence, so the example is run: {hidden}"


def test_every_check_belongs_to_an_example() -> None:
    assert set(CHECKS) <= {e.id for e in EXAMPLES}, "a check whose example is gone or renamed"


SAMPLE: Final = """\
# Title

```python
first = 1
```

## Two: examples!

```sh title="a shell"
echo not python
```

```python
second = 2
```

<!-- not-run: a fragment -->
```python
    return third
```
"""


def test_blocks_are_named_after_their_heading_and_the_marker_is_read() -> None:
    blocks = fenced_blocks(SAMPLE)
    assert [(b.language, b.line, b.heading) for b in blocks] == [
        ("python", 3, "Title"),
        ("sh", 9, "Two: examples!"),
        ("python", 13, "Two: examples!"),
        ("python", 18, "Two: examples!"),
    ]
    found = examples(blocks)
    assert [(e.id, e.block.code, e.block.not_run) for e in found] == [
        ("title", "first = 1\n", None),
        ("two-examples", "second = 2\n", None),
        ("two-examples-2", "    return third\n", "a fragment"),
    ]
    assert run(found[1])["second"] == 2


# The checks, one per example, in README order.


@check("using-the-reference-framework")
async def http_example(example: Example) -> None:
    notified: list[str] = []

    async def notify() -> None:  # the example schedules it; the reader writes their own
        notified.append("notified")

    app = run(example, notify=notify)["app"]
    driver = ASGIDriver(app)
    assert (await driver.get("/things/42")).json() == {"id": 42}
    assert (await driver.get("/things/not-a-number")).status == 404
    put = await driver.request("PUT", "/things/7", body=[b"some ", b"bytes"])
    assert put.status == 204
    assert await app.jobs.drain(5) == 0  # the scheduled job finished, none cancelled
    assert notified == ["notified"]
    events = parse((await driver.get("/events")).body)
    assert [(e.type, e.data, e.id) for e in events] == [("greeting", '{"hello":"world"}', "1")]


@check("websocket")
async def websocket_example(example: Example) -> None:
    driver = ASGIDriver(run(example)["app"])
    async with driver.websocket("/rooms/3") as session:
        assert (await session.handshake()).status == 403
    async with driver.websocket("/rooms/3", query="token=x", denial=True) as session:
        assert (await session.handshake()).status == 401
    path, query = "/rooms/3", "token=letmein"
    async with driver.websocket(path, query=query, subprotocols=["chat.v1"]) as session:
        assert (await session.handshake()).subprotocol == "chat.v1"
        session.send_text("hi")
        assert await session.receive() == '{"room":3,"said":"hi"}'
        session.send_bytes(b"no")
        assert await session.receive_close() == (1003, "text only")
    async with driver.websocket(path, query=query) as session:
        session.send_text("x" * (64 * 1024 + 1))
        assert (await session.receive_close())[0] == 1009
    async with driver.websocket("/countdown") as session:
        session.send_text("3")
        assert [await session.receive() for _ in range(3)] == ["3", "2", "1"]
        assert await session.receive_close() == (1000, "")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        async with driver.websocket("/countdown") as session:
            await session.handshake()
            session.close(1001)
            await session.finish()
    assert printed.getvalue() == "left with 1001\n"


def as_served(path: str) -> str:
    """The path as a server hands it to the app: percent-decoded, once."""
    return unquote(path)


def lay_out(root: Path) -> None:
    """Files below ``root``, and one beside it that ``..`` would reach."""
    (root / "css").mkdir(parents=True)
    (root / "css" / "site.css").write_bytes(b"body {}")
    (root / "a").mkdir()
    (root / "a" / "b").write_bytes(b"b")
    (root / "a\\b").write_bytes(b"a backslash")  # a legal file name on POSIX
    (root / "%2e%2e").mkdir()
    (root / "%2e%2e" / "app.py").write_bytes(b"literally named")
    (root.parent / "app.py").write_bytes(b"SECRET = 1")


@check("serving-files-below-a-directory-name-path-safe")
async def files_example(example: Example) -> None:
    driver = ASGIDriver(run(example)["app"])
    root = Path("static")  # the example's ROOT, below the scratch working directory
    lay_out(root)

    async def get(path: str) -> Result:
        return await driver.get(as_served(path))

    served = await get("/files/css/site.css")
    assert (served.status, served.body) == (200, b"body {}")
    assert (await get("/files/css/site.css/")).body == b"body {}"  # one trailing "/" is allowed
    assert (await get("/files/a/b")).body == b"b"
    # each of these reaches a file when joined to ROOT: only the refused match stops it
    for refused in (
        "/files/../app.py",
        "/files/%2e%2e/app.py",
        "/files/..%2fapp.py",
        "/files/a/./b",
        "/files/a//b",
        "/files/a%5Cb",
    ):
        assert (root / as_served(refused).removeprefix("/files/")).is_file(), refused
        assert (await get(refused)).status == 404, refused
    for absent in ("/files/", "/files/css/", "/files/missing.css"):  # the responder's 404
        assert (await get(absent)).status == 404, absent
    # decoded once, %252e is the text %2e: the file literally named so, not a parent directory
    assert (await get("/files/%252e%252e/app.py")).body == b"literally named"


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def post(driver: ASGIDriver, body: bytes, content_type: str = "application/json") -> Result:
    return await driver.request(
        "POST", "/echo", headers=[("content-type", content_type)], body=body
    )


def add_echo(app: App) -> None:
    """Route POST /echo to a responder that sends back what ``req.get_media()`` returned."""

    @app.route("/echo", methods={"POST"})
    async def echo(req: Request, resp: Response) -> None:
        resp.media = await req.get_media()


#: What ``resp.media`` is set to by GET /emit/{what}.
EMITTED: Final[dict[str, object]] = {
    "nan": float("nan"),
    "infinity": float("inf"),
    "surrogate": "\ud800",
}


@check("json-limits")
async def json_limits_example(example: Example) -> None:
    app: App = run(example)["app"]
    add_echo(app)

    @app.route("/emit/{what}", methods={"GET"})
    async def emit(req: Request, resp: Response, what: str) -> None:
        resp.media = EMITTED[what]

    driver = ASGIDriver(app)
    assert (await post(driver, nested(32))).body == nested(32)
    too_deep = await post(driver, nested(33))
    assert (too_deep.status, too_deep.json()["title"]) == (400, "Malformed request body")
    for body in (b"NaN", b"[Infinity]", b"-Infinity", b"1e99999", b'"\\ud800"', b""):
        assert (await post(driver, body)).status == 400, body
    assert (await post(driver, b'\xef\xbb\xbf{"a": 1}')).json() == {"a": 1}  # the BOM is skipped
    form = await post(driver, b"a=1&a=2&b=", "application/x-www-form-urlencoded")
    assert form.json() == {"a": ["1", "2"], "b": ""}
    assert (await driver.get("/emit/nan")).status == 500
    assert (await driver.get("/emit/infinity")).status == 500
    assert (await driver.get("/emit/surrogate")).body == b'"\\ud800"'

    # the defaults the section starts from, and what leaving out the form handler does
    default = App()
    add_echo(default)
    assert (await post(ASGIDriver(default), nested(128))).status == 200
    assert (await post(ASGIDriver(default), nested(129))).status == 400
    json_only = App(media_handlers={"application/json": JSONHandler()})
    add_echo(json_only)
    assert (
        await post(ASGIDriver(json_only), b"a=1", "application/x-www-form-urlencoded")
    ).status == 415
