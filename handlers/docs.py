"""The OpenAPI description of every REST route, and Swagger UI at /swagger/index.html.

quart-schema builds the document from the routes themselves (their paths,
methods, and the request schemas each app documents with `document_request`),
so it cannot drift from the code. Swagger UI's files come from the
swagger-ui-bundle package and are served here: the page works offline.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from quart import Response, send_from_directory
from quart_schema import Info, OpenAPIProvider, QuartSchema, hide
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
)
from quart_trio import QuartTrio
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import Rule

OPENAPI_PATH = "/swagger/doc.json"
SWAGGER_PATH = "/swagger/index.html"
ASSETS = "/swagger/assets"
REF_TEMPLATE = "#/components/schemas/{name}"


class Provider(OpenAPIProvider):
    """quart-schema's document, completed: the schemas nested in documented models
    (quart-schema keeps only the outermost of a msgspec model's components), and a
    default answer for routes that document none (OpenAPI wants one)."""

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        models = [
            model
            for attribute in (QUART_SCHEMA_REQUEST_ATTRIBUTE, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE)
            if (model := _model(getattr(func, attribute, None))) is not None
        ]
        if models:
            _, nested = msgspec.json.schema_components(models, ref_template=REF_TEMPLATE)
            components.update(nested)
        for operations in paths.values():
            for operation in operations.values():
                operation["responses"] = operation["responses"] or {
                    "default": {"description": "The app's answer; see its page in docs/."}
                }
        return paths, components

    def operation_id(self, method: str, path: str, func: Any) -> str:
        """From the route, not the function: several apps name their views alike."""
        return method.lower() + re.sub(r"[^A-Za-z0-9]+", "_", path).rstrip("_")


def _model(documented: Any) -> type[Any] | None:
    """The msgspec model a quart-schema attribute names (a model, or (model, source))."""
    model = documented[0] if isinstance(documented, tuple) else documented
    return model if isinstance(model, type) and issubclass(model, msgspec.Struct) else None


def install(app: QuartTrio) -> None:
    app.config["QUART_SCHEMA_SWAGGER_JS_URL"] = f"{ASSETS}/swagger-ui-bundle.js"
    app.config["QUART_SCHEMA_SWAGGER_CSS_URL"] = f"{ASSETS}/swagger-ui.css"
    make_response = app.make_response
    QuartSchema(
        app,
        info=Info(title="Hearth", version="0.1.0", description="Every REST route of every app."),
        openapi_path=OPENAPI_PATH,
        swagger_ui_path=SWAGGER_PATH,
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=Provider,
        # Every model is a msgspec Struct. Left to choose, quart-schema converts a dict
        # or list response with a pydantic TypeAdapter built anew for every response.
        conversion_preference="msgspec",
    )
    # quart-schema also wraps `make_response`, to turn every answer into builtins before
    # it is encoded: a copy of the whole answer, 170 µs for a page of 50 orders (its
    # encoding takes 75). Every route answers with dicts and lists, which the app's JSON
    # (msgspec) encodes as they are, structs and Raw inside them included: unwrapped.
    app.make_response = make_response  # type: ignore[method-assign]

    @app.get(f"{ASSETS}/<path:name>")
    @hide
    async def swagger_assets(name: str) -> Response:
        return await send_from_directory(swagger_ui_path, name)
