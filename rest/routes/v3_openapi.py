"""GET /v3/openapi.yaml: the OpenAPI 3.0 document of the v3 API this proxy serves (rest/openapi/v3.yaml,
shipped as package data), read once."""

from __future__ import annotations

from functools import cache
from importlib import resources

from flask import Blueprint, Response

from rest.v3 import install

bp = install(Blueprint("v3_openapi", __name__))


@cache
def document() -> bytes:
    return resources.files("rest").joinpath("openapi/v3.yaml").read_bytes()


@bp.get("/openapi.yaml")
def openapi_document():
    return Response(document(), content_type="application/yaml; charset=utf-8")
