"""The cost of a hook call: what a request with a before or after hook (or a template call) adds
to the engine's own work per request, measured side by side with the same request without it.

    python bench/hooks.py              # 200,000 calls of each

Measured in-process on the request path's own functions (no network): rendering and serializing
a request for the fast client, with and without a no-op before hook (which makes the request be
rendered and serialized per request instead of once), an after hook on a small JSON answer
(headers kept, the body parsed), and a template calling a hook function.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import _lib

from surge.engine.fastclient import FastClient
from surge.hooks import call_after, call_before
from surge.template import HOOKS_KEY, compile_template


def per_call_us(fn: object, n: int) -> float:
    f = fn  # type: ignore[assignment]
    t = time.perf_counter()
    for _ in range(n):
        f()  # type: ignore[operator]
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200_000)
    args = ap.parse_args()
    n = args.calls
    client = FastClient(timeout=5.0, allowed_hosts=frozenset({"127.0.0.1"}))
    url, headers, body = "http://127.0.0.1:8080/api/mocs?limit=10", {"Accept": "application/json"}, None
    prepared = client.prepare("GET", url, headers, body)
    noop = lambda request, variables: None  # noqa: E731
    answer = json.dumps({"id": "x", "items": list(range(10))}).encode()
    checked = lambda response, variables: {"id": response["json"]["id"]}  # noqa: E731
    rng = random.Random(1)
    plain = compile_template("/api/mocs?limit={{ n }}")
    hooked = compile_template("/api/mocs?limit={{ f(n) }}")
    variables = {"n": 10, HOOKS_KEY: {"f": lambda v: v}}

    rows = [
        ["static request, prepared once (no hook)", per_call_us(lambda: prepared, n)],
        [
            "before hook (no-op) + serialize the request",
            per_call_us(
                lambda: client.prepare(
                    "GET", *call_before(noop, "GET", url, headers, body, {})[:1], headers, body
                ),
                n,
            ),
        ],
        [
            "serialize only (what a templated request costs anyway)",
            per_call_us(lambda: client.prepare("GET", url, headers, body), n),
        ],
        [
            "after hook on a 60-byte JSON answer",
            per_call_us(lambda: call_after(checked, 200, {"a": "b"}, answer, {}), n),
        ],
        ["template with a variable", per_call_us(lambda: plain.render(variables, rng), n)],
        ["template calling a hook function", per_call_us(lambda: hooked.render(variables, rng), n)],
    ]
    print(f"# {_lib.machine_note()}; {n:,} calls each")
    print(_lib.table(["what", "µs per request"], [[w, round(us, 2)] for w, us in rows]))


if __name__ == "__main__":
    main()
