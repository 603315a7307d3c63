"""The RAYNET stand-in and the bridge's client, both held to RAYNET's published OpenAPI spec.

The bridge's own client drives every RAYNET endpoint it uses against the stand-in; each
request and answer that crossed the wire is then checked with openapi-core against
``../shared/raynet-openapi/openapi.json``: the request must be valid for its operation and
carry no query parameter the operation (or the spec's introduction, for every list:
``offset``, ``limit``, ``dateFormat``) does not document; the answer's status must be
documented, and its body valid against the response schema where the spec gives one. Most
GET answers are documented by an example only; there the stand-in's body must have the
example's shape: no key the example lacks (unless listed in ``UNDOCUMENTED_KEYS`` with its
source) and the same JSON types. Every key the client's schemas read must be in the spec's
example too (or in ``UNDOCUMENTED_KEYS``), and the error answers the spec documents (400,
500) are played and must be handled as what they mean.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from marshmallow import Schema, fields
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.support import ROOT
from webhook.raynet.client import (
    RaynetBadResponse,
    RaynetClient,
    RaynetCredentials,
    RaynetPermissionDenied,
    RaynetUnavailable,
)
from webhook.raynet.schemas import (
    BusinessCaseSchema,
    CaseChangeSchema,
    CompanySchema,
    CurrencySchema,
    CustomFieldSchema,
    ProductSchema,
    WebhookListSchema,
)
from webhook.raynet.standin import Exchange, RaynetStandIn

SPEC_FILE = ROOT.parent / "shared" / "raynet-openapi" / "openapi.json"

# Keys the stand-in sends that the spec's examples lack, each with where RAYNET is seen
# sending it (R3: AiPulseInc/raynet-mcp-server docs/api-exploration-results.json, a field
# dump from a live instance, January 2026; see ../shared/reference/field-findings.md).
UNDOCUMENTED_KEYS = {
    "GET /businessCase/{businessCaseId}/ .data.extIds": "R3: records carry extIds (null)",
    "GET /company/{companyId}/ .data.primaryAddress.address.countryCode": "R3: addresses",
    "GET /company/{companyId}/ .data.addresses[].address.countryCode": "R3: addresses",
    # R2 (the English spec, Jan 2026) shows an item's price-list item, with its product:
    # {id, price, product{id, code, category, productLine}, priceList{id, code}}.
    "GET /businessCase/{businessCaseId}/ .data.items[].priceListItem.id": "R2",
    "GET /businessCase/{businessCaseId}/ .data.items[].priceListItem.price": "R2",
    "GET /businessCase/{businessCaseId}/ .data.items[].priceListItem.product": "R2",
    "GET /businessCase/{businessCaseId}/ .data.items[].priceListItem.product.id": "R2",
    "GET /businessCase/{businessCaseId}/ .data.items[].priceListItem.product.code": "R2",
    "GET /businessCase/{businessCaseId}/ .data.items[].priceListItem.product.name": (
        "R1, GET /priceList/{id}/items/: a price-list item's product has id, code, name"
    ),
    "GET /businessCase/{businessCaseId}/ .data.items[].priceListItem.priceList": "R2",
    # null in the detail's example, {id, value} in the list's (GET /businessCase/) and R3
    "GET /businessCase/{businessCaseId}/ .data.category.id": "R1's list example",
    "GET /businessCase/{businessCaseId}/ .data.category.value": "R1's list example",
    "GET /businessCase/{businessCaseId}/ .data.businessCaseType.id": "R3: {id, value}",
    "GET /businessCase/{businessCaseId}/ .data.businessCaseType.value": "R3: {id, value}",
}
# Query parameters of every list (the spec's introduction: paging, the date format).
LIST_PARAMETERS = {"offset", "limit", "dateFormat"}
# What each of the client's schemas reads, and the answer whose example documents it.
READ_BY = {
    "GET /businessCase/{businessCaseId}/ .data": BusinessCaseSchema,
    "GET /company/{companyId}/ .data": CompanySchema,
    "GET /currency/ .data[]": CurrencySchema,
    "GET /businessCase/ .data[]": CaseChangeSchema,
    "GET /webhook/ .data": WebhookListSchema,
    "GET /product/{productId}/ .data": ProductSchema,
    "GET /customField/config/ .data.BusinessCase[]": CustomFieldSchema,
}
# Objects whose keys each instance defines (custom fields: generated per field).
FREE_FORM = {".data.customFields"}
# Answers the spec does not document at all; what the stand-in does instead, and why.
SPEC_SILENT = {
    404: "a record that does not exist: the spec lists no 404; the stand-in answers 404 "
    '{"message": ...}, RAYNET\'s error shape from its documented 400/403/500 answers',
}


def load_spec(server: str) -> tuple[OpenAPI, dict[str, Any]]:
    if not SPEC_FILE.is_file():
        pytest.fail(f"RAYNET's OpenAPI spec not found at {SPEC_FILE} (../shared/raynet-openapi)")
    document = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    # The spec's one deviation from OpenAPI 3.0.3 (shared/raynet-openapi/SOURCE.md): a path
    # parameter marked optional. Corrected here, in memory, so every other check stays on.
    checktoken = document["paths"]["/security/checktoken/{token}/{personId}/"]["get"]
    for parameter in checktoken["parameters"]:
        parameter["required"] = True
    # A second slip: DELETE webhook/{uuid}/ types the uuid as an integer, while its own
    # example and PUT webhook/'s answer are 32 hex digits ("532d339c0a874f68ae8f2cc108c7f7b2").
    (uuid,) = document["paths"]["/webhook/{uuid}/"]["delete"]["parameters"]
    uuid["schema"] = {"type": "string"}
    # A third, of the same kind: DELETE {entityName}/{entityId}/extId/{extId} types the
    # external id as an integer, while its own example is "erp:123456789" and PUT extId/
    # takes any string.
    removed = document["paths"]["/{entityName}/{entityId}/extId/{extId}"]["delete"]
    (external_id,) = [p for p in removed["parameters"] if p["name"] == "extId"]
    external_id["schema"] = {"type": "string"}
    document["servers"] = [{"url": server}]
    return OpenAPI.from_dict(copy.deepcopy(document)), document


def operation_path(document: dict[str, Any], method: str, path: str) -> str:
    """The spec's path template for a request path: the one with the fewest parameters."""
    candidates: list[str] = []
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(template))
        if method.lower() in operations and re.fullmatch(pattern, path):
            candidates.append(template)
    assert candidates, f"{method} {path} is not an operation of RAYNET's API"
    return min(candidates, key=lambda template: template.count("{"))


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "list" if isinstance(value, list) else type(value).__name__


def shape_problems(actual: Any, example: Any, where: str, operation: str) -> list[str]:
    """How ``actual`` departs from the shape of the spec's ``example``."""
    if example is None or actual is None or where in FREE_FORM:
        return []
    if isinstance(example, dict) and isinstance(actual, dict):
        return _object_problems(actual, example, where, operation)
    if isinstance(example, list) and isinstance(actual, list):
        return [
            problem
            for item in (actual if example else [])
            for problem in shape_problems(item, example[0], f"{where}[]", operation)
        ]
    if json_type(actual) != json_type(example):
        return [f"{where}: {json_type(actual)} where the example has {json_type(example)}"]
    return []


def _object_problems(
    actual: dict[str, Any], example: dict[str, Any], where: str, operation: str
) -> list[str]:
    problems = []
    for key, value in actual.items():
        inner = f"{where}.{key}"
        if key in example:
            problems += shape_problems(value, example[key], inner, operation)
        elif f"{operation} {inner}" not in UNDOCUMENTED_KEYS:
            problems.append(f"{inner}: not in the spec's example")
    return problems


def check_exchange(spec: OpenAPI, document: dict[str, Any], base: str, exchange: Exchange) -> str:
    """Validate one request and its answer; returns "METHOD /template status"."""
    parts = urlsplit(exchange.target)
    path = parts.path.removeprefix(urlsplit(base).path.rstrip("/"))
    request = MockRequest(
        base,
        exchange.method.lower(),
        parts.path,
        args=dict(parse_qsl(parts.query)),
        headers=exchange.headers,
        data=exchange.body or None,
        content_type=exchange.headers.get("content-type", "application/json"),
    )
    template = operation_path(document, exchange.method, path)
    label = f"{exchange.method} {template} {exchange.status}"
    spec.validate_request(request)
    operation = document["paths"][template][exchange.method.lower()]
    documented_parameters = {p["name"] for p in operation.get("parameters", [])}
    for key in dict(parse_qsl(parts.query)):
        name = re.sub(r"\[[A-Z_]+\]$", "", key)  # a filter's operator: status[EQ]
        assert name in documented_parameters | LIST_PARAMETERS, (
            f"{label}: query parameter {key} is not documented (RAYNET answers 400 "
            '"Unsupported filter column")'
        )
    if exchange.status in SPEC_SILENT:
        body = json.loads(exchange.answer)
        assert set(body) == {"message"}, label
        return label
    documented = document["paths"][template][exchange.method.lower()]["responses"]
    if documented[str(exchange.status)].get("content") == {}:  # documented without a body
        assert exchange.answer == b"", f"{label}: a body where the spec documents none"
        return label
    content_type = exchange.answer_headers["Content-Type"].split(";")[0]
    spec.validate_response(
        request,
        MockResponse(exchange.answer, exchange.status, exchange.answer_headers, content_type),
    )
    content = documented[str(exchange.status)].get("content", {}).get("application/json", {})
    if "example" in content:
        body = json.loads(exchange.answer, parse_float=Decimal)
        operation = f"{exchange.method} {template}"
        problems = shape_problems(body, content["example"], "", operation)
        assert problems == [], f"{label}: {problems}"
    return label


def test_every_endpoint_the_bridge_uses_answers_as_documented(
    raynet: RaynetStandIn, won_case: dict[str, Any]
) -> None:
    spec, document = load_spec(raynet.url)
    raynet.add_case({**won_case, "id": 77, "rowInfo.updatedAt": "2026-11-20 10:00"})
    client = RaynetClient(
        RaynetCredentials(raynet.username, raynet.api_key, raynet.instance, raynet.url)
    )
    case = client.business_case(1234)
    client.company(881)
    client.currency(case)
    list(client.won_cases_changed_since(dt.datetime(2026, 11, 1, tzinfo=dt.UTC)))
    uuid = client.create_webhook(
        "https://bridge.firma.cz/webhooks/raynet", "t" * 20, ["record.updated"]
    )
    client.set_technical_contacts(["ops@firma.cz"])
    client.webhooks()
    client.delete_webhook(uuid)
    client.add_external_id(1234, "moneys3:OP-24-057.xml")
    client.add_post(1234, "Objednávka pro Money S3 je připravena")
    assert client.posts(1234) == ["Objednávka pro Money S3 je připravena"]
    client.lock_business_case(1234)
    assert client.business_case(1234).external_ids == ("moneys3:OP-24-057.xml",)
    client.unlock_business_case(1234)  # a re-export: unlock, replace our external id, lock
    client.remove_external_id(1234, "moneys3:OP-24-057.xml")
    client.add_external_id(1234, "moneys3:OP-24-057+2.xml")
    client.lock_business_case(1234)
    raynet.add_product({"id": 77, "code": "MON-24", "name": 'Monitor 24"'})
    assert client.product_code(77) == "MON-24"
    raynet.custom_fields = [{"label": "Číslo zakázky", "name": "Cislo_zaka_7c1d2"}]
    assert client.custom_field_keys() == {"Číslo zakázky": "Cislo_zaka_7c1d2"}
    assert client.check_button_token(raynet.issue_button_token(902), 902)
    assert not client.check_button_token("not-issued", 902)
    with pytest.raises(Exception, match="not found"):
        client.business_case(999)
    checked = {check_exchange(spec, document, raynet.url, e) for e in raynet.exchanges}
    assert checked == {
        "GET /businessCase/{businessCaseId}/ 200",
        "GET /businessCase/{businessCaseId}/ 404",
        "GET /company/{companyId}/ 200",
        "GET /currency/ 200",
        "GET /businessCase/ 200",
        "PUT /webhook/ 201",
        "POST /webhook/technicalContact/ 200",
        "GET /webhook/ 200",
        "DELETE /webhook/{uuid}/ 200",
        "GET /security/checktoken/{token}/{personId}/ 200",
        "GET /security/checktoken/{token}/{personId}/ 403",
        "PUT /{entityName}/{entityId}/extId/ 200",
        "PUT /{entityName}/{entityId}/post/ 201",
        "GET /{entityName}/{entityId}/post/ 200",
        "POST /businessCase/{businessCaseId}/lock 200",
        "POST /businessCase/{businessCaseId}/unlock 200",
        "DELETE /{entityName}/{entityId}/extId/{extId} 200",
        "GET /product/{productId}/ 200",
        "GET /customField/config/ 200",
    }


def test_the_contract_check_catches_an_invented_field(raynet: RaynetStandIn) -> None:
    """The shape check can fail: a key RAYNET does not document is reported."""
    raynet.companies[881]["creditLimit"] = 5000
    spec, document = load_spec(raynet.url)
    RaynetClient(
        RaynetCredentials(raynet.username, raynet.api_key, raynet.instance, raynet.url)
    ).company(881)
    with pytest.raises(AssertionError, match="creditLimit: not in the spec's example"):
        check_exchange(spec, document, raynet.url, raynet.exchanges[-1])


def test_documented_errors_and_rate_limit_answers(raynet: RaynetStandIn) -> None:
    """429's body is the one the spec's introduction shows; a bad token's 403 its example."""
    raynet.fail("currency/", 429, headers={"Retry-After": "0"})
    client = RaynetClient(
        RaynetCredentials(raynet.username, raynet.api_key, raynet.instance, raynet.url),
        sleep=lambda _: None,
    )
    client.currencies()
    limited = json.loads(raynet.exchanges[0].answer)
    assert limited["type"] == "RequestLimitReached"
    _, document = load_spec(raynet.url)
    example = document["paths"]["/security/checktoken/{token}/{personId}/"]["get"]["responses"]
    client.check_button_token("forged", 1)
    assert (
        json.loads(raynet.exchanges[-1].answer)
        == (example["403"]["content"]["application/json"]["example"])
    )


def schema_paths(schema: Schema) -> list[tuple[str, ...]]:
    """Every key a marshmallow schema reads, as a path (a list is ``[]``)."""
    found: list[tuple[str, ...]] = []
    for name, field in schema.fields.items():
        key = field.data_key or name
        found.append((key,))
        inner = field.inner if isinstance(field, fields.List) else field
        step: tuple[str, ...] = (key, "[]") if isinstance(field, fields.List) else (key,)
        if isinstance(inner, fields.Nested) and isinstance(inner.schema, Schema):
            found += [step + path for path in schema_paths(inner.schema)]
    return found


def documented(example: Any, path: tuple[str, ...]) -> bool:
    for step in path:
        if step == "[]":
            if not isinstance(example, list) or not example:
                return False
            example = example[0]
        elif isinstance(example, dict) and step in example:
            example = example[step]
        else:
            return False
    return True


def test_every_key_the_client_reads_is_documented() -> None:
    """A key the bridge reads that RAYNET does not document would be a guess about RAYNET."""
    _, document = load_spec("http://127.0.0.1/api/v2/")
    missing = []
    for where, schema_type in READ_BY.items():
        operation, _, root = where.partition(" .")
        method, template = operation.split(" ")
        responses = document["paths"][template][method.lower()]["responses"]
        example = responses["200"]["content"]["application/json"]["example"]
        base = tuple(step for part in root.split(".") for step in _steps(part))
        for path in schema_paths(schema_type()):
            label = f"{operation} ." + ".".join([*root.split("."), _label(path)])
            label = label.replace(".[]", "[]")
            if label in UNDOCUMENTED_KEYS or (f"{operation} .data.customFields" in label):
                continue
            if not documented(example, base + path):
                missing.append(label)
    assert missing == []


# Keys the client reads without a schema (client.py: a post's text, RAYNET's words on a
# refusal, the custom-field configuration's entity), each with an answer that documents it.
READ_RAW = (
    ("GET /{entityName}/{entityId}/post/", "200", ("data", "[]", "comment")),
    ("GET /businessCase/", "500", ("translatedMessage",)),
    ("GET /businessCase/", "500", ("message",)),
    ("GET /customField/config/", "200", ("data", "BusinessCase", "[]", "name")),
)


def test_every_key_the_client_reads_without_a_schema_is_documented() -> None:
    _, document = load_spec("http://127.0.0.1/api/v2/")
    missing = []
    for operation, status, path in READ_RAW:
        method, template = operation.split(" ")
        answer = document["paths"][template][method.lower()]["responses"][status]
        if not documented(answer["content"]["application/json"]["example"], path):
            missing.append(f"{operation} {status} .{_label(path)}")
    assert missing == []
    assert not documented({"data": [{"text": "x"}]}, READ_RAW[0][2])  # the check can fail


def _steps(part: str) -> tuple[str, ...]:
    return (part.removesuffix("[]"), "[]") if part.endswith("[]") else (part,)


def _label(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[]", "[]")


def test_the_documented_errors_are_played_and_mean_what_they_say(raynet: RaynetStandIn) -> None:
    """400 "Unsupported filter column" and the 500s the spec documents (a right the API user
    lacks; webhook writes without a body): the stand-in answers them as documented, and the
    client makes of each what it means."""
    spec, document = load_spec(raynet.url)
    client = RaynetClient(
        RaynetCredentials(raynet.username, raynet.api_key, raynet.instance, raynet.url)
    )
    with pytest.raises(RaynetBadResponse, match="Unsupported filter column bogus"):
        client._get_data("businessCase/", params={"bogus": "1"})  # a client's mistake
    examples = document["paths"]["/businessCase/"]["get"]["responses"]
    denied = examples["500"]["content"]["application/json"]["example"]
    raynet.fail("businessCase/$", 500, body=denied)
    with pytest.raises(RaynetPermissionDenied, match=denied["translatedMessage"][:20]):
        list(client.won_cases_changed_since(dt.datetime(2026, 11, 1, tzinfo=dt.UTC)))
    raynet.fail("webhook/technicalContact/", 500, body=b"")
    with pytest.raises(RaynetUnavailable):
        client.set_technical_contacts(["ops@firma.cz"])
    bogus, *answers = raynet.exchanges
    with pytest.raises(AssertionError, match="query parameter bogus is not documented"):
        check_exchange(spec, document, raynet.url, bogus)  # the contract test catches it
    refused = examples["400"]["content"]["application/json"]["example"]
    assert (bogus.status, set(json.loads(bogus.answer))) == (400, set(refused))
    checked = [check_exchange(spec, document, raynet.url, e) for e in answers]
    assert checked == ["GET /businessCase/ 500", "POST /webhook/technicalContact/ 500"]
