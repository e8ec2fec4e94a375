"""The machine and versions a run was measured on, and the ``BENCHMARKS.md`` document."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import sysconfig
from importlib import metadata

from .serving import REPO_ROOT
from .tools import PACKAGES

__all__ = ["environment", "load_average"]

_DISTRIBUTIONS = (
    "falcon",
    "starlette",
    "bareasgi",
    "uvicorn",
    "httptools",
    "h11",
    "uvloop",
    "hypercorn",
    "h2",
    "daphne",
    "twisted",
    "granian",
)


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(info.readline().split()[1])
        return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _tool_version(tool: str) -> str:
    from shutil import which

    path = which(tool)
    if path is None:
        return f"not installed (Debian package {PACKAGES[tool]})"
    flag = {"wrk": "-v", "h2load": "--version", "curl": "--version"}[tool]
    done = subprocess.run([path, flag], capture_output=True, text=True, check=False, timeout=10)
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def load_average() -> str:
    """The 1/5/15-minute load averages."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def environment() -> list[tuple[str, str]]:
    """``(what, value)`` rows describing the machine and the software."""
    revision = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    build = sysconfig.get_config_var("CONFIG_ARGS") or ""
    optimized = (
        "PGO/LTO" if "--enable-optimizations" in build else "no PGO (--enable-optimizations off)"
    )
    rows = [
        ("machine", f"{_cpu()}, {os.cpu_count()} CPUs, {_memory()} RAM, {platform.platform()}"),
        ("python", f"{platform.python_implementation()} {sys.version.split()[0]} ({optimized})"),
        ("reference_app", f"this repository at {revision or 'unknown'}"),
    ]
    for name in _DISTRIBUTIONS:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    rows += [(tool, _tool_version(tool)) for tool in ("wrk", "h2load", "curl")]
    return rows
