"""The redactor masks a secret however it was sent or written: as is, percent-encoded (any case,
spaces as + or %20), JSON-escaped; generated secrets with the characters every encoding changes."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from surge.redact import MASK, Redactor

SECRET = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 &=+/?#%@:\"'\\<>é€😀\t")), min_size=4, max_size=16
).filter(lambda s: s.strip() == s and len(s.strip()) >= 4)


@settings(max_examples=300, deadline=None)
@given(secret=SECRET)
def test_every_encoding_of_a_secret_is_masked(secret: str) -> None:
    r = Redactor([secret])
    for form in (
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    ):
        text = f"GET http://h/x?a=1&key={form}&b=2 failed"
        masked = r.text(text)
        assert form not in masked or form in text.replace(form, "", 1), (form, masked)
        assert MASK in masked


def test_ordinary_text_is_left_alone() -> None:
    r = Redactor(["p@ss w/rd"])
    assert r.text("the password was wrong; pass /rd") == "the password was wrong; pass /rd"
