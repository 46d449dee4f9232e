"""Cursor pagination, the same on every list endpoint: ``?cursor=<last id>&limit=N`` in,
``Link: <...>; rel="next"`` out when the page is full."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Query, Request, Response

from service_kit.problems import Problem, uuid_or

# The ``cursor`` query parameter of every list endpoint.
Cursor = Annotated[
    str | None,
    Query(max_length=64, description="the last id of the previous page (see Link: next)"),
]


def cursor_id(value: str) -> str:
    """A pagination cursor (the last id of the previous page), or 400."""
    return uuid_or(value, Problem(400, "bad-cursor", "Bad cursor", "The cursor is not valid."))


def set_next_link(request: Request, response: Response, items: Sequence[Any], limit: int) -> None:
    """Cursor pagination: a full page gets ``Link: <...?cursor=<last id>>; rel="next"``."""
    if items and len(items) == limit:
        next_url = request.url.include_query_params(cursor=items[-1].id)
        response.headers["Link"] = f'<{next_url}>; rel="next"'
