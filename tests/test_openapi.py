"""The OpenAPI document: valid, complete (every REST route of every app), browsable
offline, and schemathesis finds no 5xx against the live server."""

from __future__ import annotations

import re
import sys

import httpx
import pytest
import trio
from openapi_spec_validator import validate

import settings
from server import Running
from tests.orders_clients import make_staff, staff_token

# Every REST route, by app (the WebSocket paths and Engine.IO's polling are not REST).
EXPECTED = {
    ("post", "/reg"),
    ("post", "/auth"),
    ("post", "/refresh"),
    ("post", "/logout"),
    ("post", "/api/auth/telegram"),
    ("post", "/api/auth/admin/login"),
    ("post", "/api/orders/calculate"),
    ("post", "/api/orders"),
    ("get", "/api/orders"),
    ("get", "/api/orders/{order_id}"),
    ("get", "/api/bonuses/balance"),
    ("get", "/api/bonuses/history"),
    ("get", "/api/orders/admin/all"),
    ("put", "/api/orders/admin/{order_id}/status"),
    ("post", "/signup"),
    ("post", "/signin"),
    ("post", "/refresh_token"),
    ("post", "/workspaces"),
    ("post", "/workspaces/{workspace_id}/channels"),
    ("post", "/workspaces/{workspace_id}/members"),
    ("get", "/status"),
    ("post", "/api/v1/users/create"),
    ("post", "/api/v1/users/login"),
    ("post", "/api/v1/users/password/change"),
    ("post", "/api/v1/users/update"),
    ("post", "/api/v1/users/media/set"),
    ("post", "/api/v1/events/get"),
    ("post", "/api/v1/events/range"),
    ("post", "/api/v1/events/create"),
    ("post", "/api/v1/events/update"),
    ("post", "/api/v1/events/close"),
    ("post", "/api/v1/events/media/add"),
    ("post", "/api/v1/events/media/remove"),
    ("post", "/api/v1/media"),
    ("get", "/api/v1/media/{media_id}"),
    ("get", "/api/v1/media/metadata/{media_id}"),
    ("delete", "/api/v1/media/{media_id}"),
    ("get", "/health"),
}


async def test_the_document_is_valid_and_lists_every_route(http: httpx.AsyncClient) -> None:
    document = (await http.get("/swagger/doc.json")).json()
    validate(document)
    listed = {
        (method, path) for path, operations in document["paths"].items() for method in operations
    }
    assert listed == EXPECTED
    reg = document["paths"]["/reg"]["post"]
    schema = reg["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"email", "password"}
    assert document["paths"]["/api/orders/admin/all"]["get"]["parameters"]
    assert "Line" in document["components"]["schemas"]  # nested in OrderRequest


async def test_swagger_ui_works_offline(http: httpx.AsyncClient) -> None:
    page = await http.get("/swagger/index.html")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/swagger/") for source in sources), sources
    for source in sources:
        asset = await http.get(source)
        assert asset.status_code == 200 and len(asset.content) > 1000, source
    assert "/swagger/doc.json" in page.text


@pytest.mark.settings(realtime={"rate_per_second": 1e6, "rate_burst": 10**6})
async def test_schemathesis_finds_no_server_errors(
    server: Running, http: httpx.AsyncClient, config: settings.Settings
) -> None:
    make_staff(config.storage.path, "admin@example.com", "admin")
    token = await staff_token(http, "admin@example.com")
    result = await trio.run_process(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"http://127.0.0.1:{server.http_port}/swagger/doc.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "10",
            "--workers",
            "1",
            "--header",
            f"Authorization: Bearer {token}",
            "--exclude-path",  # it would end the token the other operations are fuzzed with
            "/logout",
            "--seed",
            "1",
            "--no-color",
        ],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    output = result.stdout.decode()
    assert result.returncode == 0, output[-6000:]
    assert "1 failure" not in output and "ST101" not in output
