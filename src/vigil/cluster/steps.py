"""People's and dispatch systems' steps on an alert, carried to the worker that owns it.

An operator's acknowledgement (`Move`) or a dispatch system's report (`Callback`) changes an alert the
engine holds, so it must be applied by the worker whose partition holds the alert's people, in
order with their reports: the edge appends it to that partition (a log message of kind `step`, with
a reply subject), and the worker answers on the reply subject once its batch has committed. The
answer is what the embedded writer would have answered: the command's result, or its refusal with
the same status, field and reason.
"""

from __future__ import annotations

from typing import Any

import msgspec

from vigil.commands import Callback, Conflict, Move, NotFound, Refusal, Refused, Reported, Unavailable
from vigil.domain.alerts import AlertChange

STEP = "step"  # the log message kind (header cluster.log.KIND)
Step = Move | Callback


class _Envelope(msgspec.Struct, omit_defaults=True):
    reply: str
    move: Move | None = None
    callback: Callback | None = None


class _Refusal(msgspec.Struct):
    status: int
    reason: str
    field: str | None = None


class _Answer(msgspec.Struct, omit_defaults=True):
    change: AlertChange | None = None
    reported: Reported | None = None
    refused: _Refusal | None = None


_encoder = msgspec.json.Encoder()
_envelopes = msgspec.json.Decoder(_Envelope)
_answers = msgspec.json.Decoder(_Answer)


def encode(step: Step, reply: str) -> bytes:
    if isinstance(step, Move):
        return _encoder.encode(_Envelope(reply, move=step))
    return _encoder.encode(_Envelope(reply, callback=step))


def decode(data: bytes) -> tuple[Step, str]:
    """Raises ValueError for what no edge of this version wrote."""
    try:
        env = _envelopes.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(str(exc)) from exc
    step: Step | None = env.move if env.move is not None else env.callback
    if step is None:
        raise ValueError("a step message with no step")
    return step, env.reply


def answer(result: Any) -> bytes:
    """The worker's answer for the edge: a result of a step, or the refusal it raised."""
    if isinstance(result, Refusal):
        return _encoder.encode(_Answer(refused=_Refusal(result.status, result.reason, result.field)))
    if isinstance(result, AlertChange):
        return _encoder.encode(_Answer(change=result))
    if isinstance(result, Reported):
        return _encoder.encode(_Answer(reported=result))
    return _encoder.encode(_Answer(refused=_Refusal(503, "the worker could not apply the step")))


def result_of(data: bytes) -> AlertChange | Reported:
    """The answer as the embedded writer gives it: the result, or its refusal raised."""
    a = _answers.decode(data)
    if a.change is not None:
        return a.change
    if a.reported is not None:
        return a.reported
    r = a.refused or _Refusal(503, "no answer")
    raise _refusal(r)


def _refusal(r: _Refusal) -> Refusal:
    if r.status == 404:
        return NotFound(r.reason)
    if r.status == 422:
        return Refused(r.field or "", r.reason)
    if r.status == 503:
        return Unavailable(r.reason)
    return Conflict(r.reason, r.field)
