"""SIGINT/SIGTERM around one CLI operation (hwfw.cli.common.run): a cancel request while
it runs; once it has ended, nothing to cancel, so neither a traceback nor a death by the
signal hides its result."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from hwfw.cancel import CancelToken
from hwfw.cli.common import run


@pytest.fixture
def own_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.usefixtures("own_handlers")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_operation_is_a_cancel_request(sig: int) -> None:
    async def operation(token: CancelToken) -> int:
        asked = asyncio.Event()
        token.subscribe(lambda requests: asked.set())
        os.kill(os.getpid(), sig)
        await asked.wait()
        return token.requests

    assert run(operation) == 1


@pytest.mark.usefixtures("own_handlers")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_after_the_operation_ended_does_not_hide_its_result(sig: int) -> None:
    async def operation(token: CancelToken) -> str:
        return "result"

    assert run(operation) == "result"
    # Checked before sending: the default would end the test process or raise KeyboardInterrupt.
    assert signal.getsignal(sig) not in (signal.SIG_DFL, signal.default_int_handler)
    os.kill(os.getpid(), sig)   # handled before the next bytecode: the test goes on
