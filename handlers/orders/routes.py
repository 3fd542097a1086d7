"""The orders app's REST routes (Bearer token), answered `{"error": "..."}` on failure.

Customers: /api/auth/telegram, /api/orders/calculate, /api/orders (create,
list, get their own), /api/bonuses/balance and /history. Staff:
/api/auth/admin/login, /api/orders/admin/all and /api/orders/admin/<id>/status;
a manager sees and moves only the orders of their cities.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Annotated, Any

import msgspec
from quart import Blueprint
from quart_schema import document_querystring, document_request, tag_blueprint

from handlers.accounts import Accounts, SignInThrottled, TokenCodec
from handlers.orders import auth, store
from handlers.orders.pricing import OrderProblem, OrderRequest
from handlers.orders.service import Orders
from handlers.web import BodyError, bearer_token, read_body, read_query
from settings import OrdersSettings

Reply = tuple[dict[str, Any], int]
View = Callable[..., Awaitable[Reply]]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?")
DateText = Annotated[str, msgspec.Meta(pattern=_ISO_DATE.pattern)]


class Credentials(msgspec.Struct):
    email: str
    password: str


class TelegramLogin(msgspec.Struct, forbid_unknown_fields=False):
    id: int
    auth_date: int
    hash: str
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    photo_url: str | None = None


class NewStatus(msgspec.Struct):
    status: store.Status


class Paging(msgspec.Struct):
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0, le=2**31)] = 0


class StaffQuery(Paging, kw_only=True):
    city_id: Annotated[int, msgspec.Meta(ge=1, le=2**31)] | None = None
    status: store.Status | None = None
    date_from: DateText | None = None
    date_to: DateText | None = None


def error(status: int, message: str) -> Reply:
    return {"error": message}, status


def blueprint(
    orders: Orders, accounts: Accounts, tokens: TokenCodec, settings: OrdersSettings
) -> Blueprint:
    routes = Blueprint("orders", __name__)
    tag_blueprint(routes, ["orders"])

    def signed_in(*, staff: bool = False) -> Callable[[View], View]:
        """Pass the caller (a `store.Person`) to the view; 401 without a valid token,
        403 when `staff` and the caller is not."""

        def decorate(view: View) -> View:
            @wraps(view)
            async def checked(*args: Any, **kwargs: Any) -> Reply:
                token = bearer_token()
                user_id = auth.user_id_of(tokens, token) if token else None
                person = orders.person(user_id) if user_id is not None else None
                if person is None:
                    return error(401, "Unauthorized")
                if staff and person.role not in store.STAFF_ROLES:
                    return error(403, "Forbidden")
                return await view(person, *args, **kwargs)

            return checked

        return decorate

    @routes.post("/api/auth/telegram")
    @document_request(TelegramLogin)
    async def telegram_login() -> Reply:
        """Log in a customer with the Telegram login widget's fields."""
        if not settings.telegram_bot_token:
            return error(503, "Telegram login is not configured")
        try:
            # Every field sent is signed, whether this server knows it or not.
            fields = await read_body(dict[str, str | int | bool | None])
            msgspec.convert(fields, TelegramLogin, strict=False)
        except (BodyError, msgspec.ValidationError) as problem:
            return error(400, f"Invalid login data: {problem}")
        now = int(time.time())
        problem_text = auth.telegram_problem(
            fields, settings.telegram_bot_token, now, settings.telegram_auth_max_age
        )
        if problem_text is not None:
            return error(401, problem_text)
        user = await orders.db.write(lambda c: store.telegram_customer(c, fields, now))
        person = store.Person(user["id"], "user", (), None)
        return {"token": auth.issue(tokens, person, settings.customer_token_ttl), "user": user}, 200

    @routes.post("/api/auth/admin/login")
    @document_request(Credentials)
    async def staff_login() -> Reply:
        """Log in a staff member (admin, ceo, manager)."""
        try:
            given = await read_body(Credentials)
        except BodyError:
            return error(400, "email and password are required")
        try:
            user_id = await accounts.login_email(given.email, given.password)
        except SignInThrottled as throttled:
            return error(429, str(throttled))
        person = orders.person(user_id) if user_id is not None else None
        if person is None or person.role not in store.STAFF_ROLES:
            return error(401, "Invalid email or password")
        token = auth.issue(tokens, person, settings.staff_token_ttl)
        return {"token": token, "user": person.view()}, 200

    @routes.post("/api/orders/calculate")
    @document_request(OrderRequest)
    @signed_in()
    async def calculate(person: store.Person) -> Reply:
        """Price an order: subtotal, delivery, bonuses used and earned."""
        try:
            request = await read_body(OrderRequest)
            return orders.calculate(person.id, request).view(), 200
        except BodyError as problem:
            return error(400, f"Invalid order: {problem}")
        except OrderProblem as problem:
            return error(400, problem.message)

    @routes.post("/api/orders")
    @document_request(OrderRequest)
    @signed_in()
    async def create(person: store.Person) -> Reply:
        """Place an order (201 {order, bonuses_earned})."""
        try:
            request = await read_body(OrderRequest)
            created = await orders.place(person.id, request)
        except BodyError as problem:
            return error(400, f"Invalid order: {problem}")
        except OrderProblem as problem:
            return error(400, problem.message)
        return {"order": created.order, "bonuses_earned": created.order["bonuses_earned"]}, 201

    @routes.get("/api/orders")
    @document_querystring(Paging)
    @signed_in()
    async def own_orders(person: store.Person) -> Reply:
        """The caller's orders, newest first."""
        try:
            page = read_query(Paging)
        except BodyError as problem:
            return error(400, str(problem))
        found = await orders.find(
            store.Filter(user_id=person.id), store.Page(page.limit, page.offset)
        )
        return {"orders": found}, 200

    @routes.get("/api/orders/<int(max=2147483647):order_id>")
    @signed_in()
    async def own_order(person: store.Person, order_id: int) -> Reply:
        """One of the caller's orders."""
        found = await orders.find(store.Filter(id=order_id, user_id=person.id), store.Page(1))
        return ({"order": found[0]}, 200) if found else error(404, "Order not found")

    @routes.get("/api/bonuses/balance")
    @signed_in()
    async def bonus_balance(person: store.Person) -> Reply:
        """The caller's bonus balance."""
        balance = orders.db.read_now(lambda c: store.balance(c, person.id))
        return {"balance": balance}, 200

    @routes.get("/api/bonuses/history")
    @document_querystring(Paging)
    @signed_in()
    async def bonus_history(person: store.Person) -> Reply:
        """The caller's bonus ledger, newest first."""
        try:
            page = read_query(Paging)
        except BodyError as problem:
            return error(400, str(problem))
        rows = orders.bonus_history(person.id, store.Page(page.limit, page.offset))
        return {"history": rows}, 200

    @routes.get("/api/orders/admin/all")
    @document_querystring(StaffQuery)
    @signed_in(staff=True)
    async def all_orders(person: store.Person) -> Reply:
        """Staff: orders by city, status and date."""
        try:
            query = read_query(StaffQuery)
        except BodyError as problem:
            return error(400, str(problem))
        cities = None if person.sees_everything else person.cities
        if cities is not None and query.city_id is not None and query.city_id not in cities:
            return error(403, "Forbidden")
        where = store.Filter(
            cities=cities,
            city_id=query.city_id,
            status=query.status,
            created_from=query.date_from,
            created_to=query.date_to,
        )
        return {"orders": await orders.find(where, store.Page(query.limit, query.offset))}, 200

    @routes.put("/api/orders/admin/<int(max=2147483647):order_id>/status")
    @document_request(NewStatus)
    @signed_in(staff=True)
    async def move(person: store.Person, order_id: int) -> Reply:
        """Staff: move an order to another status."""
        try:
            status = (await read_body(NewStatus)).status
        except BodyError:
            return error(400, f"status must be one of: {', '.join(store.STATUSES)}")
        try:
            changed = await orders.change_status(person, order_id, status)
        except PermissionError:
            return error(403, "Forbidden")
        except OrderProblem as problem:
            return error(400, problem.message)
        if changed is None:
            return error(404, "Order not found")
        return {"order": changed.order}, 200

    return routes
