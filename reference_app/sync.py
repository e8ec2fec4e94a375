"""Running synchronous code from async responders without blocking the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["sync_to_async"]

P = ParamSpec("P")
R = TypeVar("R")


async def sync_to_async(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``func(*args, **kwargs)`` in the loop's default executor and return its result.

    The call sees a copy of the caller's context variables (``run_in_executor`` alone does not
    carry them, which is how Falcon's helper of the same name loses them). ``func`` must be safe
    to call from another thread.
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await loop.run_in_executor(None, call)
