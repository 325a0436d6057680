"""The audit page (admins): what operators did, and who may log in.

Account changes stay commands (`cxflow users ...`), which write the same log; the page is
where an admin checks who paused, stopped, erased or sent a test, and when.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from engine.console.context import ContextDep
from engine.console.security import Viewer, require
from engine.console.templating import render

router = APIRouter()

PAGE = 100


@router.get("/audit")
async def audit(
    request: Request,
    context: ContextDep,
    viewer: Annotated[Viewer, require("admin")],
    limit: Annotated[int, Query(ge=1, le=1000)] = PAGE,
) -> Response:
    users = context.store.users
    entries, accounts = await asyncio.gather(
        asyncio.to_thread(users.audit_log, limit), asyncio.to_thread(users.all)
    )
    return render(
        request,
        "audit/audit.html",
        title="Audit",
        entries=entries,
        accounts=accounts,
        limit=limit,
    )
