"""One worker's async AWS clients (aiobotocore, on aiohttp): created lazily per (service, region).

Credentials come from the default chain (environment, profile, container or instance role, web
identity); every request is signed by the client. Retries are off: a throttled or failed call is
a measured outcome of the load test, not something to hide behind back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

CONNECT_TIMEOUT_S = 10.0
# A Lambda invocation may run 15 minutes: the step's own timeout (default 60 s) is what bounds a call.
READ_TIMEOUT_S = 900.0
BACKGROUND_GRACE_S = 5.0  # how long close() waits for best-effort clean-ups (query cancels)


class AwsClientPool:
    """Async AWS clients for one worker; ``await pool.close()`` when the worker is done."""

    def __init__(
        self, *, region: str | None = None, endpoint_url: str | None = None, max_pool_connections: int = 100
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.max_pool_connections = max_pool_connections
        self._session = get_session()
        self._config = AioConfig(
            max_pool_connections=max_pool_connections,
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"total_max_attempts": 1, "mode": "standard"},
            # A local endpoint (moto, LocalStack) has no per-bucket host names.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lock: asyncio.Lock | None = None
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._memo: dict[tuple[str, ...], str] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    async def client(self, service: str, region: str | None = None) -> Any:
        """The client for a botocore service name ("lambda", "sqs", "stepfunctions"...)."""
        key = (service, region or self.region)
        found = self._clients.get(key)
        if found is not None:
            return found
        if self._closed:
            raise RuntimeError("the AWS client pool is closed")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one client per key even when many iterations start at once
            found = self._clients.get(key)
            if found is None:
                create: Any = self._session.create_client  # its stubs name every service literally
                found = await self._stack.enter_async_context(
                    create(service, region_name=key[1], endpoint_url=self.endpoint_url, config=self._config)
                )
                self._clients[key] = found
            return found

    def semaphore(self, key: str, limit: int) -> asyncio.Semaphore:
        """A per-worker limit shared by every call with the same key (e.g. concurrent queries)."""
        sem = self._semaphores.get(key)
        if sem is None:
            sem = self._semaphores[key] = asyncio.Semaphore(limit)
        return sem

    async def queue_url(self, queue: str, region: str | None) -> str:
        """An SQS queue URL from a URL, an ARN or a name (looked up once, then remembered)."""
        if queue.startswith(("https://", "http://")):
            return queue
        memo_key = ("sqs", region or self.region or "", queue)
        url = self._memo.get(memo_key)
        if url is None:
            client = await self.client("sqs", region)
            params = {"QueueName": queue}
            parts = queue.split(":", 5)
            if queue.startswith("arn:") and len(parts) == 6:
                params = {"QueueName": parts[5], "QueueOwnerAWSAccountId": parts[4]}
            resp = await client.get_queue_url(**params)
            url = self._memo[memo_key] = str(resp["QueueUrl"])
        return url

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a best-effort clean-up (e.g. cancel a timed-out query) without making a step wait."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        self._closed = True
        if self._background:
            await asyncio.wait(set(self._background), timeout=BACKGROUND_GRACE_S)
            for task in self._background:
                task.cancel()
        self._clients.clear()
        await self._stack.aclose()
