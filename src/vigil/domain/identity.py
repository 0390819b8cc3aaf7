"""Is the suspect of a police case a man already monitored? Matching on identity, never on a name.

In Namyangju the police who took a victim's reports never learnt that the man wore an ankle monitor
for probation. The join is made here, but a wrong join is harm too: a probation officer told that his
subject is the suspect in a stalking case acts on it, and a common name (김민수 is thousands of men)
proves nothing. So:

- a **match** rests on an identifier: the subject's id named by the investigator (when his name,
  birth date or national id agree: an id alone could be a guess), the national identifier (compared
  as keyed hashes, never in clear), or the name together with the birth date;
- a **near match** (the same birth date and a name one typing slip away, or the same name and a birth
  date with two digits swapped or one digit off, or the same name where either birth date is unknown)
  goes to a review list for people to confirm or dismiss, never to probation on its own;
- a name alone, or a birth date alone, is nothing.

Pure: handed the suspect's identity and the subjects', it decides.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Basis(StrEnum):
    SUBJECT_ID = "subject_id"  # the investigator named the subject
    NATIONAL_ID = "national_id"  # the keyed hashes of the national identifier are equal
    NAME_AND_BIRTH_DATE = "name_and_birth_date"
    NEAR = "near"  # for review only


@dataclass(frozen=True, slots=True)
class Identity:
    """What is known of a person: any field may be missing. `national_id_hash` is the keyed hash."""

    name: str = ""
    birth_date: date | None = None
    national_id_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    subject_id: str
    basis: Basis
    why: str  # in words, for the person who reviews or acts on it


@dataclass(frozen=True, slots=True)
class Verdict:
    match: Candidate | None  # an identifier-based match: probation is told
    near: tuple[Candidate, ...]  # for review, never told on their own


def normal_name(name: str) -> str:
    """A name as compared: Unicode NFKC (full-width and composed forms alike), case and every space
    or punctuation mark dropped ("Kim Min-su" = "kim minsu"; "김 민수" = "김민수")."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def match(
    suspect: Identity, subjects: Iterable[tuple[str, Identity]], named_subject: str | None = None
) -> Verdict:
    """The subject the suspect is (at most one), and the near ones for review. With several
    identifier matches the strongest basis wins (the named id, then the national id); two subjects
    matching equally well are both sent to review instead, since telling the wrong officer is worse
    than telling one a few minutes later."""
    strong: list[Candidate] = []
    near: list[Candidate] = []
    name = normal_name(suspect.name)
    for subject_id, known in subjects:
        if named_subject is not None and subject_id == named_subject:
            # An id alone proves nothing: typed from a report, or guessed to learn who is monitored.
            # It matches when his identity agrees too; otherwise a person looks at it.
            if _agrees(suspect, known):
                strong.append(
                    Candidate(subject_id, Basis.SUBJECT_ID, "named by the investigator, identity agrees")
                )
            else:
                near.append(
                    Candidate(subject_id, Basis.NEAR, "named by the investigator; identity does not agree")
                )
            continue
        if suspect.national_id_hash and suspect.national_id_hash == known.national_id_hash:
            strong.append(Candidate(subject_id, Basis.NATIONAL_ID, "the same national identifier"))
            continue
        theirs = normal_name(known.name)
        if not name or not theirs:
            continue
        both_dates = suspect.birth_date is not None and known.birth_date is not None
        if name == theirs and both_dates and suspect.birth_date == known.birth_date:
            strong.append(Candidate(subject_id, Basis.NAME_AND_BIRTH_DATE, "the same name and birth date"))
        elif name == theirs and not both_dates:
            near.append(Candidate(subject_id, Basis.NEAR, "the same name; a birth date is not known"))
        elif name == theirs and _date_slip(suspect.birth_date, known.birth_date):
            near.append(Candidate(subject_id, Basis.NEAR, "the same name; birth dates one slip apart"))
        elif both_dates and suspect.birth_date == known.birth_date and _one_slip(name, theirs):
            near.append(Candidate(subject_id, Basis.NEAR, "the same birth date; names one letter apart"))
    if not strong:
        return Verdict(None, tuple(near))
    rank = {Basis.SUBJECT_ID: 0, Basis.NATIONAL_ID: 1, Basis.NAME_AND_BIRTH_DATE: 2}
    best = min(rank[c.basis] for c in strong)
    top = [c for c in strong if rank[c.basis] == best]
    if len(top) == 1:
        return Verdict(top[0], tuple(near))
    ambiguous = tuple(Candidate(c.subject_id, Basis.NEAR, f"{c.why}, as another subject has") for c in top)
    return Verdict(None, ambiguous + tuple(near))


def _agrees(suspect: Identity, known: Identity) -> bool:
    """The suspect's known fields agree with the subject's: the national id when both have one,
    else the name, with the birth date when both have one."""
    if suspect.national_id_hash and known.national_id_hash:
        return suspect.national_id_hash == known.national_id_hash
    if normal_name(suspect.name) != normal_name(known.name) or not normal_name(known.name):
        return False
    both = suspect.birth_date is not None and known.birth_date is not None
    return not both or suspect.birth_date == known.birth_date


def _one_slip(a: str, b: str) -> bool:
    """One letter added, dropped, changed, or two neighbours swapped (Damerau distance 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        i, j = diffs[0], diffs[-1]
        return len(diffs) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _date_slip(a: date | None, b: date | None) -> bool:
    """Two birth dates that a typing slip could turn into each other: as YYYYMMDD, one digit off,
    or two neighbouring digits swapped; or day and month swapped."""
    if a is None or b is None or a == b:
        return False
    x, y = a.strftime("%Y%m%d"), b.strftime("%Y%m%d")
    swapped_day_month = a.year == b.year and a.month == b.day and a.day == b.month
    return swapped_day_month or _one_slip(x, y)
