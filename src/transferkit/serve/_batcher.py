"""Dynamic batching: the requests that arrive while a model is busy, or within a short
wait of each other, go to the model together in one call.

One worker per model takes the first waiting request, then gathers more until the batch
holds `max_batch_size` inputs or `max_wait_ms` has passed, and runs the model in its own
thread (so the event loop keeps accepting requests, and one model never runs two calls
at once). A request is never split; one larger than the batch goes alone. A request whose
client has gone is dropped before the call, and its answers discarded after it: it never
holds the others up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

Answers = list[dict[str, Any]]


@dataclass
class Pending:
    items: list[str]
    future: asyncio.Future[tuple[Answers, int]]


class Batcher:
    """Gathers `submit` calls into calls of `model(items) -> answers`; `on_batch` is told
    the number of inputs of each call."""

    def __init__(
        self,
        model: Callable[[list[str]], Answers],
        max_batch_size: int,
        max_wait_ms: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.model, self.max_batch_size = model, max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transferkit-model")
        self.task: asyncio.Task[None] | None = None
        self.held: Pending | None = None  # did not fit the last batch: opens the next one

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.thread.shutdown(wait=True)

    async def submit(self, items: list[str]) -> tuple[Answers, int]:
        """The answers for `items`, and how many inputs shared their model call."""
        future: asyncio.Future[tuple[Answers, int]] = asyncio.get_running_loop().create_future()
        await self.queue.put(Pending(items, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            if batch:
                await self._call(batch)

    async def _gather(self) -> list[Pending]:
        first, self.held = self.held or await self.queue.get(), None
        batch, size = [first], len(first.items)
        deadline = time.perf_counter() + self.max_wait
        while size < self.max_batch_size:
            try:
                nxt = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(self.queue.get(), left)
                except TimeoutError:
                    break
            if size + len(nxt.items) > self.max_batch_size:
                self.held = nxt
                break
            batch.append(nxt)
            size += len(nxt.items)
        return [p for p in batch if not p.future.done()]  # a client gone: not computed

    async def _call(self, batch: list[Pending]) -> None:
        items = [x for p in batch for x in p.items]
        loop = asyncio.get_running_loop()
        try:
            answers = await loop.run_in_executor(self.thread, self.model, items)
        except Exception as exc:  # a model failure answers every request of the batch
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        if self.on_batch is not None:
            self.on_batch(len(items))
        offset = 0
        for p in batch:
            mine = answers[offset : offset + len(p.items)]
            offset += len(p.items)
            if not p.future.done():  # cancelled: the client went away meanwhile
                p.future.set_result((mine, len(items)))
