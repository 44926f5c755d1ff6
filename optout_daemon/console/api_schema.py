"""The OpenAPI 3.1 description of the consent API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from optout_daemon import __version__

_ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "marketing_allowed": {"type": "boolean", "const": False}}}

_CONSENT = {"type": "object", "required": ["account", "known", "marketing_allowed", "state"], "properties": {
    "account": {"type": "string", "description": "The account number as looked up (letters and digits only)."},
    "known": {"type": "boolean", "description": "false: no customer has this account number."},
    "marketing_allowed": {"type": "boolean",
                          "description": "true only for a known customer who has not opted out. "
                                         "Anything else, including any error, means: do not use CPNI."},
    "state": {"type": "string", "enum": ["opted_in", "opted_out"]},
    "since": {"type": ["string", "null"], "format": "date-time",
              "description": "When the current state was recorded (UTC); null when no event exists."},
    "explicit": {"type": "boolean", "description": "false when the configured default applies."},
    "reason": {"type": "string"},
    "as_of": {"type": "string", "format": "date-time"},
}}

_SUPPRESSED = {"type": "object", "properties": {
    "account": {"type": "string"}, "state": {"type": "string", "const": "opted_out"},
    "since": {"type": ["string", "null"], "format": "date-time"}, "explicit": {"type": "boolean"},
    "emails": {"type": "array", "items": {"type": "string"}}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    unauthorized = _json(_ERROR, "No token, or a token that is unknown or revoked.")
    unavailable = _json(_ERROR, "The consent store does not answer: do not use CPNI; retry later.")
    return {
        "openapi": "3.1.0",
        "info": {"title": "optout-daemon consent API", "version": __version__,
                 "description": "Whether a customer's CPNI may be used for marketing (47 CFR 64.2009(a)). "
                                "Fail closed: only `marketing_allowed: true` permits use."},
        "components": {"securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "A token from `optout-daemon tokens add NAME`."}}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/customers/{account}/consent": {"get": {
                "summary": "May this customer's CPNI be used for marketing?",
                "parameters": [{"name": "account", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "Account number; spaces and dashes are ignored."}],
                "responses": {
                    "200": _json(_CONSENT, "A known customer; read marketing_allowed."),
                    "404": _json(_CONSENT, "Unknown account: marketing_allowed is false."),
                    "401": unauthorized, "503": unavailable}}},
            "/api/v1/suppression": {"get": {
                "summary": "Customers whose CPNI may not be used for marketing, in a stable order.",
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "string"},
                     "description": "next_cursor of the previous page (preferred: stable while the list changes)."},
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1},
                     "description": "Page number, from 1 (instead of cursor)."},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                                                "default": 100}}],
                "responses": {
                    "200": _json({"type": "object", "properties": {
                        "items": {"type": "array", "items": _SUPPRESSED},
                        "limit": {"type": "integer"},
                        "next_cursor": {"type": ["string", "null"]},
                        "page": {"type": "integer"}, "next_page": {"type": ["integer", "null"]}}},
                        "One page; next_cursor (or next_page) is null on the last page."),
                    "400": _json(_ERROR, "A bad cursor, page or limit."),
                    "401": unauthorized, "503": unavailable}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document.", "security": [],
                                             "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
    }
