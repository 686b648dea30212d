"""`no_gc()`: pause the cyclic garbage collector around bulk allocation.

Planning and graph building allocate several containers per step (100,000 steps for a
10,000-host fleet) and free none of them until done. Generational collections over
those young objects find nothing and cost a third of the time, so the planner pauses
the collector and restores its previous setting afterwards. Reference counting still
frees everything as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic collector for the block; restore its previous state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
