"""The virtual user's cookie jar: what it keeps, and what it sends where."""

from __future__ import annotations

from surge.engine.cookies import CookieJar, with_cookies
from surge.engine.request_policy import next_hop


def test_cookies_go_back_to_their_host_and_path_only() -> None:
    jar = CookieJar()
    jar.store("http://127.0.0.1:8080/api/login", ["session=abc; Path=/api; HttpOnly", "theme=dark"])
    assert jar.header("http://127.0.0.1:8080/api/account") == "session=abc; theme=dark"
    assert jar.header("http://127.0.0.1:8080/other") is None  # theme's default path is /api too
    assert jar.header("http://localhost:8080/api/account") is None  # another host


def test_an_expired_cookie_is_deleted_and_secure_ones_need_https() -> None:
    jar = CookieJar()
    jar.store("https://127.0.0.1/", ["a=1; Path=/", "s=2; Path=/; Secure"])
    assert jar.header("https://127.0.0.1/x") == "a=1; s=2"
    assert jar.header("http://127.0.0.1/x") == "a=1"
    jar.store("https://127.0.0.1/", ["a=; Max-Age=0", "s=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"])
    assert jar.header("https://127.0.0.1/x") is None and not jar


def test_not_cookies_are_ignored() -> None:
    jar = CookieJar()
    jar.store("http://127.0.0.1/", ["", "novalue", "=x"])
    assert not jar


def test_the_plans_own_cookie_header_comes_first() -> None:
    jar = CookieJar()
    jar.store("http://127.0.0.1/", ["s=1; Path=/"])
    assert with_cookies({"cookie": "mine=2"}, jar, "http://127.0.0.1/a") == {"Cookie": "mine=2; s=1"}
    headers = {"X": "1"}
    assert with_cookies(headers, CookieJar(), "http://127.0.0.1/a") is headers  # nothing to add


def test_a_redirect_hop_takes_the_cookies_the_redirect_set() -> None:
    jar = CookieJar()
    hop = next_hop(
        method="POST",
        url="http://127.0.0.1:9/api/login",
        headers={"Content-Type": "application/json"},
        body=b"{}",
        status=302,
        location="/api/account",
        allowed_hosts=None,
        jar=jar,
        set_cookies=["surge_session=x1; Path=/api"],
    )
    assert hop is not None and hop.method == "GET"
    assert hop.headers == {"Cookie": "surge_session=x1"}
