"""DynamoDB's writes are atomic per item (an UpdateItem's ADD is applied whole, however many callers
add at once: "Working with items", atomic counters); moto's are a read-modify-write in Python with
no lock, so threads adding to one counter at once can lose an addition. The harnesses run workers
as threads of one process: this holds moto to AWS's semantics by applying one write to the table at
a time."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

from moto.dynamodb.models import DynamoDBBackend

_WRITES = ("update_item", "put_item", "delete_item")


@contextlib.contextmanager
def atomic_item_writes() -> Iterator[None]:
    lock = threading.RLock()
    patches = []
    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)

        def one_at_a_time(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        patches.append(mock.patch.object(DynamoDBBackend, name, one_at_a_time))
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield
