"""The parties app's REST routes: every answer is HTTP 200 with
`{"isSuccess", "errors": [{"errorCode"}] | null, "result"}`, the original's convention.

Validation reports every problem it finds at once (`NameIsEmpty`,
`PhoneRegexInvalid`, ...); "auth" routes want `Authorization: Bearer <token>`
and answer `unauthorized` without a valid one.
"""

from __future__ import annotations

import math
import re
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from functools import partial, wraps
from typing import Any

import msgspec
from quart import Blueprint, Response, request
from quart_schema import document_request, tag_blueprint
from werkzeug.exceptions import RequestEntityTooLarge

from handlers.accounts import SignInThrottled
from handlers.accounts.passwords import password_problem
from handlers.parties import store
from handlers.parties.media import Refused
from handlers.parties.service import Parties
from handlers.web import BodyError, bearer_token, plain_text, read_body
from storage import StorageError

Reply = dict[str, Any]
View = Callable[..., Awaitable[Any]]
PHONE = re.compile(r"\d{10}")
MEDIA_PATHS = ("/api/v1/media", "/api/v1/users/media/set", "/api/v1/events/media/add")


def ok(result: Any = None) -> Reply:
    return {"isSuccess": True, "errors": None, "result": result}


def fail(*codes: str) -> Reply:
    return {"isSuccess": False, "errors": [{"errorCode": code} for code in codes], "result": None}


class Coordinates(msgspec.Struct):
    x: float | None = None
    y: float | None = None


class UserForm(msgspec.Struct):
    name: str | None = None
    phone: str | None = None
    password: str | None = None
    confirmPassword: str | None = None


class EventForm(msgspec.Struct):
    eventId: str | None = None
    name: str | None = None
    address: str | None = None
    coordinates: Coordinates | None = None
    mediaId: str | None = None


class RangeForm(msgspec.Struct):
    horizontalRange: float | None = None
    verticalRange: float | None = None
    coordinates: Coordinates | None = None


def name_codes(name: str) -> list[str]:
    if not name.strip():
        return ["NameIsEmpty"]
    return [] if plain_text(name) else ["NameIsInvalid"]


def address_codes(address: str) -> list[str]:
    if not address.strip():
        return ["AddressIsEmpty"]
    return [] if plain_text(address) else ["AddressIsInvalid"]


def _uuid(text: str | None) -> str | None:
    try:
        return str(uuid.UUID(text or ""))
    except ValueError:
        return None


def _place(coordinates: Coordinates | None) -> tuple[float, float] | None:
    if coordinates is None or coordinates.x is None or coordinates.y is None:
        return None
    if not (math.isfinite(coordinates.x) and math.isfinite(coordinates.y)):
        return None
    return coordinates.x, coordinates.y


def blueprint(parties: Parties, min_password_length: int) -> Blueprint:
    routes = Blueprint("parties", __name__)
    tag_blueprint(routes, ["parties"])
    db, hasher, throttle = parties.db, parties.accounts.hasher, parties.accounts.throttle

    async def body(schema: type[Any]) -> Any:
        try:
            return await read_body(schema)
        except BodyError:
            return None

    def signed_in(view: View) -> View:
        @wraps(view)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            try:
                user_id = parties.accounts.tokens.verify(token or "", "access").user_id
            except Exception:
                return fail("unauthorized")
            person = db.read_now(partial(store.person_by, column="user_id", value=user_id))
            if person is None:
                return fail("unauthorized")
            return await view(person, *args, **kwargs)

        return checked

    async def user_view(person: store.Person) -> Reply:
        event_id = db.read_now(partial(store.open_event_of, user_id=person.id))
        return ok(
            {
                "id": str(person.id),
                "name": person.name,
                "phone": person.phone,
                "imageId": person.image_id,
                "eventId": event_id,
                "accessToken": parties.token(person),
            }
        )

    def password_codes(form: UserForm) -> list[str]:
        codes = []
        if password_problem(form.password or "", min_length=min_password_length) is not None:
            codes.append("PasswordLengthInvalid")
        if form.password != form.confirmPassword:
            codes.append("ConfirmPasswordInvalid")
        return codes

    @routes.post("/api/v1/users/create")
    @document_request(UserForm)
    async def create_user() -> Reply:
        """Create a user (name, 10-digit phone, password twice)."""
        form = await body(UserForm)
        if form is None:
            return fail("InvalidRequestBody")
        codes = name_codes(form.name or "")
        if not PHONE.fullmatch(form.phone or ""):
            codes.append("PhoneRegexInvalid")
        codes += password_codes(form)
        if codes:
            return fail(*codes)
        hashed = await hasher.hash(form.password)
        try:
            person = await db.write(
                partial(
                    store.create_person,
                    name=form.name.strip(),
                    phone=form.phone,
                    password_hash=hashed,
                )
            )
        except store.Conflict as conflict:
            return fail(conflict.code)
        return await user_view(person)

    @routes.post("/api/v1/users/login")
    @document_request(UserForm)
    async def login() -> Reply:
        """Log in with phone and password."""
        form = await body(UserForm)
        if form is None:
            return fail("InvalidRequestBody")
        if not PHONE.fullmatch(form.phone or ""):
            return fail("PhoneRegexInvalid")
        phone = form.phone or ""
        hasher.ensure_room()  # before the throttle counts the sign-in
        try:
            throttle.attempt(phone)
        except SignInThrottled:
            return fail("TooManyAttempts")
        person = db.read_now(partial(store.person_by, column="phone", value=phone))
        if person is None:
            await hasher.verify(form.password or "", None)  # the same time either way
            return fail("UserNotFound")
        if not await hasher.verify(form.password or "", person.password_hash):
            return fail("InvalidPassword")
        throttle.succeeded(phone)
        return await user_view(person)

    @routes.post("/api/v1/users/password/change")
    @document_request(UserForm)
    @signed_in
    async def change_password(person: store.Person) -> Reply:
        """Change the password (password, confirmPassword)."""
        form = await body(UserForm)
        if form is None:
            return fail("InvalidRequestBody")
        codes = password_codes(form)
        if codes:
            return fail(*codes)
        hashed = await hasher.hash(form.password)
        await db.write(partial(store.set_password, user_id=person.id, password_hash=hashed))
        return ok()

    @routes.post("/api/v1/users/update")
    @document_request(UserForm)
    @signed_in
    async def update_user(person: store.Person) -> Reply:
        """Change name or phone; answers a new token."""
        form = await body(UserForm)
        if form is None:
            return fail("InvalidRequestBody")
        codes = name_codes(form.name) if form.name is not None else []
        if form.phone is not None and not PHONE.fullmatch(form.phone):
            codes.append("PhoneRegexInvalid")
        if codes:
            return fail(*codes)
        name = form.name.strip() if form.name is not None else None
        try:
            updated = await db.write(
                partial(store.update_person, user_id=person.id, name=name, phone=form.phone)
            )
        except store.Conflict as conflict:
            return fail(conflict.code)
        return ok({"accessToken": parties.token(updated)})

    async def upload(person: store.Person, field: str, *, event_id: str | None = None) -> Any:
        """Save the uploaded file in `field` (shown on the event `event_id`, if given, in
        the same transaction); its media id, or the refusal to answer."""
        try:
            files = await request.files
        except RequestEntityTooLarge:
            return fail("MediaTooLarge")
        upload = files.get(field)
        if upload is None:
            return fail("MediaIsEmpty")
        content = upload.read()
        quota = parties.quota
        try:  # before the file is written; the row's transaction checks again
            db.read_now(
                partial(store.check_quota, owner_id=person.id, size=len(content), quota=quota)
            )
        except store.Conflict as conflict:
            return fail(conflict.code)
        try:
            media_id = await parties.media.save(content, upload.mimetype or "")
        except Refused:
            return fail(
                "MediaTypeInvalid"
                if len(content) <= parties.settings.max_media_bytes
                else "MediaTooLarge"
            )
        name = (upload.filename or media_id)[:200]
        limit = parties.settings.max_event_media

        def keep(connection: sqlite3.Connection) -> None:
            store.add_media(
                connection, media_id, person.id, name, upload.mimetype, len(content), quota
            )
            if event_id is not None:
                store.attach_media(connection, event_id, media_id, limit)

        try:
            await db.write(keep)
        except store.Conflict as conflict:  # the quota or the event's media are full
            await parties.media.delete(media_id)
            return fail(conflict.code)
        except StorageError:
            await parties.media.delete(media_id)  # a file without its row would be left over
            raise
        return media_id

    @routes.post("/api/v1/users/media/set")
    @signed_in
    async def set_image(person: store.Person) -> Any:
        """Set the user's image (multipart `image`)."""
        media_id = await upload(person, "image")
        if not isinstance(media_id, str):
            return media_id
        updated, replaced = await db.write(
            partial(store.set_image, user_id=person.id, media_id=media_id)
        )
        if replaced is not None:
            await parties.media.delete(replaced)
        return ok({"imageId": media_id, "accessToken": parties.token(updated)})

    @routes.post("/api/v1/media")
    @signed_in
    async def add_media(person: store.Person) -> Any:
        """Upload media (multipart `file`); answers its id."""
        media_id = await upload(person, "file")
        return ok(media_id) if isinstance(media_id, str) else media_id

    @routes.get("/api/v1/media/<media_id>")
    async def get_media(media_id: str) -> Any:
        """The media's bytes, with its content type."""
        found = db.read_now(partial(store.media, media_id=_uuid(media_id) or ""))
        content = await parties.media.read(found["id"]) if found else None
        if found is None or content is None:
            return fail("MediaNotFound"), 404
        response = Response(content, content_type=found["contentType"])
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @routes.get("/api/v1/media/metadata/<media_id>")
    async def media_metadata(media_id: str) -> Reply:
        """The media's id, name, size and content type."""
        found = db.read_now(partial(store.media, media_id=_uuid(media_id) or ""))
        if found is None:
            return fail("MediaNotFound")
        return ok({key: found[key] for key in ("id", "name", "size", "contentType")})

    @routes.delete("/api/v1/media/<media_id>")
    @signed_in
    async def delete_media(person: store.Person, media_id: str) -> Reply:
        """Owner: delete media."""
        found = db.read_now(partial(store.media, media_id=_uuid(media_id) or ""))
        if found is None:
            return fail("MediaNotFound")
        if found["ownerId"] != person.id:
            return fail("UserIsNotOwner")
        events = await db.write(partial(store.delete_media, media_id=found["id"]))
        await parties.media.delete(found["id"])
        for event_id in events:
            parties.announce(event_id, "mediaRemoved", found["id"])
        return ok()

    def event_view(event: store.Event) -> Reply:
        media, chat = db.read_now(partial(store.media_and_chat, event_id=event.id))
        return ok(
            {
                "id": event.id,
                "ownerId": str(event.owner_id),
                "name": event.name,
                "address": event.address,
                "coordinates": {"x": event.x, "y": event.y},
                "usersCount": parties.users_count(event.id),
                "media": media,
                "chatMessages": chat,
            }
        )

    async def owned_event(person: store.Person, form: EventForm) -> store.Event | Reply:
        event_id = _uuid(form.eventId)
        if event_id is None:
            return fail("InvalidIdFormat")
        event = db.read_now(partial(store.event, event_id=event_id))
        if event is None or event.closed:
            return fail("EventNotFound")
        if event.owner_id != person.id:
            return fail("UserIsNotOwner")
        return event

    @routes.post("/api/v1/events/get")
    @document_request(EventForm)
    async def get_event() -> Reply:
        """An event with its media and chat."""
        form = await body(EventForm)
        event_id = _uuid(form.eventId if form else None)
        if event_id is None:
            return fail("InvalidIdFormat")
        event = db.read_now(partial(store.event, event_id=event_id))
        return event_view(event) if event is not None else fail("EventNotFound")

    @routes.post("/api/v1/events/range")
    @document_request(RangeForm)
    async def events_in_range() -> Reply:
        """Open events within a rectangle around a point."""
        form = await body(RangeForm)
        place = _place(form.coordinates) if form else None
        if (
            form is None
            or place is None
            or form.horizontalRange is None
            or form.verticalRange is None
        ):
            return fail("CoordinatesIsEmpty")
        width, height = abs(form.horizontalRange), abs(form.verticalRange)
        if not (math.isfinite(width) and math.isfinite(height)):
            return fail("CoordinatesIsEmpty")
        events = await db.read(
            partial(store.in_range, x=place[0], y=place[1], width=width, height=height)
        )
        return ok(
            [
                {
                    "id": e.id,
                    "name": e.name,
                    "usersCount": parties.users_count(e.id),
                    "coordinates": {"x": e.x, "y": e.y},
                }
                for e in events
            ]
        )

    @routes.post("/api/v1/events/create")
    @document_request(EventForm)
    @signed_in
    async def create_event(person: store.Person) -> Reply:
        """Create an event (one open event per owner)."""
        form = await body(EventForm)
        if form is None:
            return fail("InvalidRequestBody")
        codes = name_codes(form.name or "") + address_codes(form.address or "")
        place = _place(form.coordinates)
        if place is None:
            codes.append("CoordinatesIsEmpty")
        if codes:
            return fail(*codes)
        assert place is not None and form.name and form.address
        try:
            event = await db.write(
                partial(
                    store.create_event,
                    owner_id=person.id,
                    name=form.name.strip()[:200],
                    address=form.address.strip()[:500],
                    x=place[0],
                    y=place[1],
                )
            )
        except store.Conflict as conflict:
            return fail(conflict.code)
        return event_view(event)

    @routes.post("/api/v1/events/update")
    @document_request(EventForm)
    @signed_in
    async def update_event(person: store.Person) -> Reply:
        """Owner: move an event (address, coordinates)."""
        form = await body(EventForm)
        if form is None:
            return fail("InvalidRequestBody")
        codes = address_codes(form.address or "")
        place = _place(form.coordinates)
        if place is None:
            codes.append("CoordinatesIsEmpty")
        if codes:
            return fail(*codes)
        event = await owned_event(person, form)
        if not isinstance(event, store.Event):
            return event
        assert place is not None and form.address
        updated = await db.write(
            partial(
                store.update_event,
                event_id=event.id,
                address=form.address.strip()[:500],
                x=place[0],
                y=place[1],
            )
        )
        parties.changed(updated)
        return ok()

    @routes.post("/api/v1/events/close")
    @document_request(EventForm)
    @signed_in
    async def close_event(person: store.Person) -> Reply:
        """Owner: close an event; its sockets get closeEvent/ and are closed."""
        form = await body(EventForm)
        event = await owned_event(person, form or EventForm())
        if not isinstance(event, store.Event):
            return event
        await db.write(partial(store.close_event, event_id=event.id))
        parties.close(event.id)
        return ok()

    @routes.post("/api/v1/events/media/add")
    @signed_in
    async def add_event_media(person: store.Person) -> Any:
        """Owner: add media to an event (multipart `eventId`, `media`)."""
        try:
            form = await request.form
        except RequestEntityTooLarge:
            return fail("MediaTooLarge")
        event = await owned_event(person, EventForm(eventId=form.get("eventId")))
        if not isinstance(event, store.Event):
            return event
        media_id = await upload(person, "media", event_id=event.id)
        if not isinstance(media_id, str):
            return media_id
        parties.announce(event.id, "mediaAdded", media_id)
        return ok(media_id)

    @routes.post("/api/v1/events/media/remove")
    @document_request(EventForm)
    @signed_in
    async def remove_event_media(person: store.Person) -> Reply:
        """Owner: remove media from an event."""
        form = await body(EventForm)
        event = await owned_event(person, form or EventForm())
        if not isinstance(event, store.Event):
            return event
        media_id = _uuid(form.mediaId if form else None)
        if media_id is None:
            return fail("InvalidIdFormat")
        if not await db.write(partial(store.detach_media, event_id=event.id, media_id=media_id)):
            return fail("MediaNotFound")
        parties.announce(event.id, "mediaRemoved", media_id)
        return ok()

    @routes.get("/health")
    async def health() -> Reply:
        """Liveness."""
        return ok("Healthy")

    return routes
