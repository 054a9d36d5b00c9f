"""Progress: a tqdm bar (images/s, ETA) on a terminal, plain periodic log lines otherwise."""

from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """Counts finished images (ok or not). Log lines go to stderr every ``interval`` seconds."""

    def __init__(self, total: int, desc: str = "infer", enabled: bool = True,
                 interval: float = 10.0, stream=None):
        self.total, self.desc, self.interval = total, desc, interval
        self.stream = stream or sys.stderr
        self.done = self.failed = 0
        self.start = self._last = time.perf_counter()
        self.bar = None
        self.enabled = enabled
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="img", file=self.stream,
                            dynamic_ncols=True, smoothing=0.1)

    def update(self, n: int = 1, failed: int = 0) -> None:
        self.done += n
        self.failed += failed
        if self.bar is not None:
            self.bar.update(n)
            if failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
            return
        now = time.perf_counter()
        if self.enabled and (now - self._last >= self.interval or self.done == self.total):
            self._last = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_text = _duration(eta) if eta == eta else "?"
        return (f"{self.desc}: {self.done}/{self.total} images, {rate:.2f} img/s, "
                f"ETA {eta_text}, {self.failed} failed")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def terminal_bar(items, desc: str, enabled: bool = True, total: int | None = None):
    """``items`` wrapped in a tqdm bar on stderr when it is a terminal (exporters, the
    report); unchanged otherwise, so logs and pipes get no bar characters."""
    if not (enabled and sys.stderr.isatty()):
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, unit="img", file=sys.stderr, dynamic_ncols=True)
