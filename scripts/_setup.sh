# Sourced by the scripts: make (or reuse) the virtualenv and install the project into it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${ASGI_CONFORMANCE_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet -e ".[dev]"
    touch "$stamp"
fi
# Byte-compile the project, as a regular (non-editable) pip install does: an editable install
# compiles nothing, and where bytecode is not written (PYTHONDONTWRITEBYTECODE) every server
# start and every shard of a run would compile the same sources again. Quick when up to date.
python -m compileall -q -j 0 conformance servers reference_app bench
