"""The served OpenAPI document is valid and says what the API really sends."""

from __future__ import annotations

from openapi_spec_validator import OpenAPIV30SpecValidator


def test_document_passes_openapi_spec_validator(client):
    doc = client.get("/api/openapi.json").json
    problems = [str(e).splitlines()[0] for e in OpenAPIV30SpecValidator(doc).iter_errors()]
    assert problems == []


def test_every_reference_resolves(client):
    doc = client.get("/api/openapi.json").json
    refs: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        target = doc
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, ref
            target = target[part]


def test_errors_are_documented_as_problem_documents(client):
    doc = client.get("/api/openapi.json").json
    for name, response in doc["components"]["responses"].items():
        for media_type in response.get("content", {}):
            assert media_type == "application/problem+json", name


def test_decimals_are_documented_as_the_strings_they_are(client, admin, make_product):
    make_product(sku="P1", unit_cost="12.5")
    doc = client.get("/api/openapi.json").json
    unit_cost = doc["components"]["schemas"]["Product"]["properties"]["unit_cost"]
    assert unit_cost["type"] == "string"
    assert isinstance(admin.get("/products/P1").json["unit_cost"], str)
    for schema in doc["components"]["schemas"].values():
        for prop in schema.get("properties", {}).values():
            for bound in ("minimum", "maximum"):
                assert not isinstance(prop.get(bound), str), schema


def test_patch_bodies_need_a_field(client):
    doc = client.get("/api/openapi.json").json
    schemas = doc["components"]["schemas"]
    patched = [
        item["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for item in doc["paths"].values()
        if "patch" in item
    ]
    assert patched
    for ref in patched:
        assert schemas[ref.rsplit("/", 1)[1]]["minProperties"] == 1
