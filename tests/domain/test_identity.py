"""Matching a police case's suspect to monitored subjects (domain/identity.py), as properties: a name
alone never matches, an identifier always does, near matches never reach probation, and spelling
(spaces, case, full-width forms) does not decide anything."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from vigil.domain.identity import Basis, Identity, match, normal_name

NAMES = st.text(alphabet="김이박민수서연 -ABCabc", min_size=1, max_size=8).filter(
    lambda n: normal_name(n) != ""
)
DATES = st.dates(min_value=date(1940, 1, 1), max_value=date(2008, 12, 31))
HASHES = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@given(NAMES, st.lists(st.tuples(NAMES, st.none() | DATES), max_size=5), st.none() | DATES)
def test_a_name_without_an_identifier_never_matches(name, subjects, born) -> None:
    """Without a national id or a named subject, a match needs name AND the same birth date."""
    suspect = Identity(name=name, birth_date=born)
    known = [(f"S{i}", Identity(n, b)) for i, (n, b) in enumerate(subjects)]
    verdict = match(suspect, known)
    if verdict.match is not None:
        assert verdict.match.basis is Basis.NAME_AND_BIRTH_DATE
        found = dict(known)[verdict.match.subject_id]
        assert born is not None and found.birth_date == born
        assert normal_name(found.name) == normal_name(name)


@given(NAMES, NAMES, DATES, DATES, HASHES)
def test_the_national_id_matches_whatever_the_name_and_date(a, b, born_a, born_b, digest) -> None:
    verdict = match(Identity(a, born_a, digest), [("S1", Identity(b, born_b, digest))])
    assert verdict.match is not None and verdict.match.basis is Basis.NATIONAL_ID


@given(NAMES, DATES)
def test_two_subjects_matching_equally_go_to_review_not_to_probation(name, born) -> None:
    twins = [("S1", Identity(name, born)), ("S2", Identity(name, born))]
    verdict = match(Identity(name, born), twins)
    assert verdict.match is None
    assert {c.subject_id for c in verdict.near} == {"S1", "S2"}
    assert all(c.basis is Basis.NEAR for c in verdict.near)


@given(NAMES, DATES)
def test_spelling_does_not_decide(name, born) -> None:
    spaced = " ".join(name.upper())
    full_width = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in name)
    for other in (spaced, full_width):
        assert match(Identity(other, born), [("S1", Identity(name, born))]).match is not None


def test_slips_are_near_and_strangers_are_nothing() -> None:
    him = Identity("김민수", date(1985, 3, 14))
    subjects = [
        ("one-letter", Identity("김민서", date(1985, 3, 14))),
        ("one-digit", Identity("김민수", date(1985, 3, 15))),
        ("no-date", Identity("김민수", None)),
        ("stranger", Identity("박서연", date(1985, 3, 14))),
        ("older", Identity("김민수", date(1960, 1, 1))),
    ]
    verdict = match(him, subjects)
    assert verdict.match is None
    assert [c.subject_id for c in verdict.near] == ["one-letter", "one-digit", "no-date"]


def test_day_and_month_swapped_is_near() -> None:
    verdict = match(Identity("김민수", date(1985, 3, 4)), [("S1", Identity("김민수", date(1985, 4, 3)))])
    assert verdict.match is None and [c.subject_id for c in verdict.near] == ["S1"]


def test_a_named_subject_matches_only_when_his_identity_agrees() -> None:
    """An id alone could be a guess (to learn who is monitored) or a typing slip."""
    him = [("S1", Identity("김민수", date(1985, 3, 14)))]
    guess = match(Identity("someone else"), him, named_subject="S1")
    assert guess.match is None and [c.subject_id for c in guess.near] == ["S1"]
    agreed = match(Identity("김 민수", date(1985, 3, 14)), him, named_subject="S1")
    assert agreed.match is not None and agreed.match.basis is Basis.SUBJECT_ID
    no_date = match(Identity("김민수"), him, named_subject="S1")  # his name, birth date not known
    assert no_date.match is not None
    other_date = match(Identity("김민수", date(1990, 1, 1)), him, named_subject="S1")
    assert other_date.match is None


@given(NAMES, st.none() | DATES, st.text(min_size=1, max_size=6))
def test_an_id_alone_never_matches_a_stranger(name, born, other) -> None:
    him = [("S1", Identity(name, born))]
    stranger = Identity(other + "#", None)  # never the same name once normalised... unless it is
    verdict = match(stranger, him, named_subject="S1")
    if normal_name(stranger.name) != normal_name(name):
        assert verdict.match is None
