"""An account's own notices: what was done to her account or her device by someone else (a new
activation code, a rotated device credential), so that her current session learns of it. Only
her own, through her own session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from vigil.api.auth import require
from vigil.api.deps import Wired
from vigil.api.policy import Action
from vigil.store import notices
from vigil.store.accounts import Principal

router = APIRouter(prefix="/v1/me", tags=["victim app"])


@router.get("/notices")
def my_notices(
    services: Wired, principal: Annotated[Principal, Depends(require(Action.SELF))]
) -> list[dict[str, Any]]:
    """Her account's notices, newest first: kind (`account_reactivated`, `device_credential_rotated`,
    `activation_code_used`), when, by whom (a role: `operator`), the reason given, and details."""
    return notices.listed(services.db, principal.id)
