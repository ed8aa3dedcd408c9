"""Stopping a training run cleanly: SIGTERM (what clusters send before preempting a job) and
SIGINT (Ctrl-C) are remembered while the run trains; the trainer reads `received` after each
forward pass (agreed across processes with its other per-step flags) and stops after that step,
every process at the same one, writing a checkpoint before it exits.
A second Ctrl-C stops at once (KeyboardInterrupt), as users expect."""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequests:
    """Context manager: while inside, SIGTERM / SIGINT set `received` (the signal number) instead
    of killing the process; the previous handlers are restored on exit. Outside the main thread
    (where Python cannot install handlers) it does nothing."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, number: int, frame) -> None:
        if self.received is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user does not want to wait
        self.received = number

    @staticmethod
    def name(number: int) -> str:
        return signal.Signals(number).name


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader `worker_init_fn`: loader workers ignore SIGTERM / SIGINT (a Ctrl-C reaches the
    whole process group), so that they keep serving while the main process finishes its step and
    writes the checkpoint; PyTorch stops them when the main process is done with them."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
