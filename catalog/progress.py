"""Progress reporting without a UI dependency: the CLI passes tqdm, tests pass nothing."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


#: ``factory(total, description)`` → a bar; ``tqdm`` fits: ``lambda t, d: tqdm(total=t, desc=d)``.
ProgressFactory = Callable[[int, str], ProgressBar]


class NoProgress:
    """The bar used when nobody watches."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def start_progress(factory: ProgressFactory | None, total: int, description: str) -> ProgressBar:
    return factory(total, description) if factory is not None else NoProgress()


def ticker(bar: ProgressBar) -> Callable[[int], None]:
    """``bar.update`` as the ``progress(n_done)`` callback the model layer expects."""

    def tick(n: int) -> None:
        bar.update(n)

    return tick


def prefetch_map(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int = 2, ahead: int = 32
) -> Iterator[tuple[T, R | Exception]]:
    """``(item, fn(item))`` in input order, computed on a thread pool at most ``ahead`` items in
    advance; an exception raised by ``fn`` is returned in place of its result."""

    def call(item: T) -> R | Exception:
        try:
            return fn(item)
        except Exception as exc:  # handed back to the caller, which decides
            return exc

    pending: deque[tuple[T, Future[R | Exception]]] = deque()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for item in items:
            pending.append((item, pool.submit(call, item)))
            if len(pending) >= ahead:
                head, fut = pending.popleft()
                yield head, fut.result()
        while pending:
            head, fut = pending.popleft()
            yield head, fut.result()


class LineProgress:
    """Progress as whole lines (``eval: 120/236``) at every tenth or so of the work, for a
    stream that is not a terminal (a log, a pipe) where a redrawn bar would be noise.

    ``write`` receives each line (the CLI passes one that prints to stderr)."""

    def __init__(self, total: int, description: str, write: Callable[[str], object]) -> None:
        self.total, self.description, self.write = total, description, write
        self.done = 0
        self._shown = 0
        self._step = max(1, -(-total // 10))
        write(f"{description}: 0/{total}")

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.done - self._shown >= self._step:
            self._show()

    def close(self) -> None:
        if self.done != self._shown:
            self._show()

    def _show(self) -> None:
        self._shown = self.done
        self.write(f"{self.description}: {self.done}/{self.total}")
