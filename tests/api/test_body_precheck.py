"""The body pre-check (hardening/input_checks.py `_suspect`) lets no body through that may hold a
number no store can take or an escape no text can: checked against the plain definition of those
shapes (one regular expression, which the pre-check was until it cost 5 us a fix), over bodies
built from the characters the shapes are made of."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from vigil.api.hardening.input_checks import _suspect

# NUL or a lone surrogate escaped, NaN, Infinity, an exponent of 3+ digits, an integer of 19+ digits
DEFINITION = re.compile(rb"\\u0000|\\u[dD][89abAB]|NaN|Infinity|[eE][+-]?[0-9]{3,}|(?<![.0-9])-?[0-9]{19,}")
_PIECES = st.sampled_from(
    [b"0", b"1", b"9", b"5", b"e", b"E", b"+", b"-", b".", b"\\u", b"d8", b"D0", b"0000", b"NaN", b"Na",
     b"Infinity", b"Inf", b'"', b",", b":", b"{", b"}", b"[", b"]", b" ", b"a", b"x"]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=60).map(b"".join))
def test_every_body_the_definition_flags_is_flagged(body: bytes) -> None:
    if DEFINITION.search(body) is not None:
        assert _suspect(body)


@given(st.integers(min_value=-(10**25), max_value=10**25), st.floats(allow_nan=True, allow_infinity=True))
def test_numbers_written_by_json_are_flagged_as_the_definition_says(whole: int, real: float) -> None:
    body = f'[{{"n":{whole},"x":{real!r}}}]'.replace("inf", "Infinity").replace("nan", "NaN").encode()
    if DEFINITION.search(body) is not None:
        assert _suspect(body)


def test_a_device_post_of_ordinary_fixes_is_not_parsed_twice() -> None:
    body = b'[{"device":"dev-004402","at":"2026-12-07T09:51:11.178362+00:00","fix":{"lat":37.55692038748222,"lon":127.08022650611682,"accuracy_m":10.0}}]'
    assert not _suspect(body)
    assert _suspect(body.replace(b"10.0", b"1e400"))
    assert _suspect(body.replace(b"10.0", b"12345678901234567890"))
    assert _suspect(body.replace(b"dev-004402", b"dev\\u0000"))
