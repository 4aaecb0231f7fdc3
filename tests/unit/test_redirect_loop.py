"""The one redirect loop every client's hops go through (surge.engine.request_policy.follow)."""

from __future__ import annotations

import asyncio

import pytest

from surge.engine.request_policy import (
    MAX_REDIRECTS,
    Answered,
    Hop,
    RedirectRefused,
    TooManyRedirects,
    follow,
)

ALLOWED = frozenset({"127.0.0.1"})


def answers(routes: dict[str, tuple[int, str | None]]) -> tuple[list[Hop], object]:
    """A fake transport: each URL's (status, Location); the hops it was asked to send."""
    sent: list[Hop] = []

    async def exchange(hop: Hop) -> Answered[str]:
        sent.append(hop)
        status, location = routes.get(hop.url, (404, None))
        return Answered(f"{status} {hop.url}", hop.url, status, location)

    return sent, exchange


def first(url: str, status: int, location: str | None) -> tuple[Hop, Answered[str]]:
    return Hop("POST", url, {"Authorization": "x"}, b"body"), Answered(
        f"{status} {url}", url, status, location
    )


def test_a_chain_is_followed_hop_by_hop_with_the_rules_of_each_status() -> None:
    sent, exchange = answers(
        {
            "http://127.0.0.1/b": (307, "/c"),  # keeps the method and the body
            "http://127.0.0.1/c": (200, None),
        }
    )
    request, answered = first("http://127.0.0.1/a", 302, "/b")  # POST becomes GET, the body goes
    final = asyncio.run(follow(request, answered, exchange, allowed_hosts=ALLOWED))  # type: ignore[arg-type]
    assert final == "200 http://127.0.0.1/c"
    assert [(h.method, h.url, h.body) for h in sent] == [
        ("GET", "http://127.0.0.1/b", None),
        ("GET", "http://127.0.0.1/c", None),
    ]


def test_an_answer_that_is_not_a_redirect_to_follow_is_the_final_one_and_nothing_more_is_sent() -> None:
    sent, exchange = answers({})
    for status, location in ((200, None), (302, None), (301, "mailto:x@y")):
        request, answered = first("http://127.0.0.1/a", status, location)
        assert asyncio.run(follow(request, answered, exchange, allowed_hosts=ALLOWED)) == answered.answer  # type: ignore[arg-type]
    assert sent == []


def test_an_endless_loop_ends_after_the_limit() -> None:
    sent, exchange = answers({"http://127.0.0.1/a": (302, "/a")})
    request, answered = first("http://127.0.0.1/a", 302, "/a")
    with pytest.raises(TooManyRedirects, match=f"more than {MAX_REDIRECTS} redirects"):
        asyncio.run(follow(request, answered, exchange, allowed_hosts=ALLOWED))  # type: ignore[arg-type]
    assert len(sent) == MAX_REDIRECTS  # with the caller's first hop: MAX_REDIRECTS + 1 sent in all


def test_a_host_not_allowed_is_refused_before_anything_is_sent_there() -> None:
    sent, exchange = answers({"http://127.0.0.1/b": (302, "http://evil.example/steal")})
    request, answered = first("http://127.0.0.1/a", 302, "/b")
    with pytest.raises(RedirectRefused) as refused:
        asyncio.run(follow(request, answered, exchange, allowed_hosts=ALLOWED))  # type: ignore[arg-type]
    assert refused.value.host == "evil.example"
    assert [h.url for h in sent] == ["http://127.0.0.1/b"]
