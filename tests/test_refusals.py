"""A refusal from the single writer is answered in the shape every other error has: a list of
{field, reason} when it names a field (as a 422 from validation does), the reason alone when not,
with the status of its kind. The API's own tests check each route's answers; this pins the shapes."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.api import writer
from vigil.commands import Conflict, NotFound, Refusal, Refused

CASES: list[tuple[Refusal, int, object, str]] = [
    (Refused("subject_id", "'s-9' is not a subject"), 422,
     [{"field": "subject_id", "reason": "'s-9' is not a subject"}], "subject_id: 's-9' is not a subject"),
    (Refused("", "order 'o-1' has ended; issue a new order"), 422,
     [{"field": "", "reason": "order 'o-1' has ended; issue a new order"}], "order 'o-1' has ended; issue a new order"),
    (Conflict("'p-1' already names another person", "person_id"), 409,
     [{"field": "person_id", "reason": "'p-1' already names another person"}], "person_id: 'p-1' already names another person"),
    (Conflict("order 'o-1' has already ended"), 409, "order 'o-1' has already ended", "order 'o-1' has already ended"),
    (NotFound("no such link for this incident"), 404, "no such link for this incident", "no such link for this incident"),
]  # fmt: skip


@pytest.mark.parametrize(("refusal", "code", "detail", "message"), CASES)
def test_a_refusal_answers_its_status_field_and_reason(
    refusal: Refusal, code: int, detail: object, message: str
) -> None:
    app = FastAPI()
    writer.install(app)

    @app.post("/refused")
    def refuse() -> None:
        raise refusal

    response = TestClient(app).post("/refused")
    assert response.status_code == code
    assert response.json() == {"detail": detail}
    assert str(refusal) == message  # what logs and replays print
