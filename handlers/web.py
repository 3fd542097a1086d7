"""Reading REST requests the way the seed clients send them (bodies, queries, bearer
tokens), and writing their JSON answers.

A body may be JSON, `application/x-www-form-urlencoded` or
`multipart/form-data` (the clicker's web client sends FormData); whichever it
is, it is validated against one msgspec schema. Form values are strings, so
they are converted to the schema's types leniently ("5" is 5). Answers are
encoded by msgspec, keys in the order the answer has them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, TypeVar

import msgspec
from quart import Quart, request
from quart.json.provider import JSONProvider

from realtime.codec import UNDECODABLE

T = TypeVar("T")

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Text without control characters (C0, DEL, C1): for names, addresses, messages. SQLite
# counts a string's length only up to a NUL, so such text would also fail length CHECKs.
SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # a line break and a tab allowed


def plain_text(value: str, *, multiline: bool = False) -> bool:
    """Whether `value` has no control characters (but line breaks and tabs if `multiline`)."""
    if multiline:
        return _CONTROL.search(value) is None
    return re.fullmatch(SINGLE_LINE, value) is not None


class BodyError(Exception):
    """The body is not well-formed or does not fit the schema."""


def read_query(schema: type[T]) -> T:
    """The query string as `schema` (values converted leniently); raises BodyError."""
    try:
        return msgspec.convert(request.args.to_dict(), schema, strict=False)
    except msgspec.ValidationError as error:
        raise BodyError(str(error)) from None


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def allow_larger_bodies(app: Quart, paths: Collection[str], limit: int) -> None:
    """Let requests to `paths` (exact) carry bodies up to `limit` bytes (uploads), the
    app's MAX_CONTENT_LENGTH applying to every other route."""
    base = app.request_class

    class Request(base):  # type: ignore[valid-type,misc]
        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
            if path in paths:
                kwargs["max_content_length"] = limit
            super().__init__(method, scheme, path, *args, **kwargs)

    app.request_class = Request


async def read_body(schema: type[T]) -> T:
    if request.mimetype in FORM_TYPES:
        form = await request.form
        try:
            return msgspec.convert(form.to_dict(), schema, strict=False)
        except msgspec.ValidationError as error:
            raise BodyError(str(error)) from None
    body = await request.get_data(as_text=False)
    try:
        return msgspec.json.decode(body or b"{}", type=schema)
    except UNDECODABLE as error:
        raise BodyError(str(error)) from None


class MsgspecJSON(JSONProvider):
    """The app's JSON (`app.json`): what a route returns and `jsonify` are encoded by
    msgspec. Flask's default provider (the standard library's encoder, keys sorted, text
    escaped to ASCII) took 8.4 ms for a list of 500 orders, msgspec 0.6 ms; a REST
    answer holds the loop while it is encoded. Only `indent` of `json.dumps`'s options is
    kept (quart-schema's command writes the OpenAPI document with it). Loading stays the
    standard library's: request bodies are decoded by `read_body`, not here."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        encoded = msgspec.json.encode(obj)
        if kwargs.get("indent"):
            encoded = msgspec.json.format(encoded, indent=kwargs["indent"])
        return encoded.decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json.loads(s, **kwargs)
