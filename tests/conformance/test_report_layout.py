"""The HTML report on a laptop screen: 12 variants in a 1,280 px window, in real Chromium.

The page itself must not scroll sideways: the matrix scrolls inside its own box, with the case
column stuck to the left; titles show their literals as code, never as raw backticks.
"""

from __future__ import annotations

import re
from pathlib import Path

from conformance.report import html

from .test_cli import chromium
from .test_report import document, record

VARIANTS = tuple(f"variant-number-{i:02d}" for i in range(12))
#: A script added to a copy of the page (the report itself has none) to measure it.
MEASURE = """<script>
const box = document.querySelector('.scroll');
const cell = document.querySelector('table.matrix tbody th.case');
document.body.dataset.page = document.documentElement.scrollWidth;
document.body.dataset.box = box.clientWidth;
document.body.dataset.matrix = box.scrollWidth;
document.body.dataset.sticky = getComputedStyle(cell).position;
</script></body>"""


def test_twelve_variants_fit_a_laptop_screen(tmp_path: Path) -> None:
    records = []
    for index, variant in enumerate(VARIANTS):
        for case in ("streaming/chunks-flushed", "sse/events-flushed", "body/read-bounded"):
            verdict = "pass" if index % 3 else "fail"
            extra = {"message": "AssertionError: late"} if verdict == "fail" else {}
            records.append(record(case, variant, verdict, **extra))
    doc = document(records, variants=VARIANTS)
    for case in doc["cases"]:
        case["title"] = "A ``send()`` returns once the ``http.response.body`` is flushed."
    page = html.render(doc, here=tmp_path)
    assert "``" not in page
    assert "<code>send()</code>" in page
    measured = tmp_path / "measured.html"
    measured.write_text(page.replace("</body>", MEASURE, 1), encoding="utf-8")
    dumped = chromium(
        "--window-size=1280,900", "--dump-dom", measured.as_uri(), user_data=tmp_path / "p"
    )
    assert dumped.returncode == 0, dumped.stderr
    found = re.search(
        r'<body[^>]*data-page="(\d+)"[^>]*data-box="(\d+)"[^>]*data-matrix="(\d+)"'
        r'[^>]*data-sticky="(\w+)"',
        dumped.stdout,
    )
    assert found, dumped.stdout[:2000]
    page_width, box, matrix, sticky = found.groups()
    assert int(page_width) <= 1280, f"the page is {page_width} px wide in a 1,280 px window"
    assert int(box) <= 1280
    assert sticky == "sticky"
    # with 12 variants the matrix fits or scrolls in its box; either way nothing is cut off
    assert int(matrix) >= int(box)
