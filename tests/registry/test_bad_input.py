"""Bad input gets the right 4xx and Confluent error code, never a 500."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO, free_port
from tests.registry.conftest import V1, record_schema

GOOD = json.dumps(record_schema())


@pytest.fixture(scope="module")
def reg(module_registry):
    assert module_registry.register("bad-input", GOOD).status_code == 200
    return module_registry


def expect(response, status: int, code: int, fragment: str = ""):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    assert fragment in body["message"], body


def test_body_that_is_not_json(reg):
    expect(reg.call("POST", "/subjects/bad-input/versions", raw=b"{not json"), 400, 400, "not valid JSON")
    expect(reg.call("POST", "/subjects/bad-input", raw=b"\xff\xfe"), 400, 400)
    expect(reg.call("POST", "/compatibility/subjects/bad-input/versions", raw=b"["), 400, 400)
    expect(reg.call("PUT", "/config", raw=b"FULL"), 400, 400)
    expect(reg.call("PUT", "/mode", raw=b"{'mode': 1}"), 400, 400)


def test_body_of_the_wrong_shape(reg):
    expect(reg.call("POST", "/subjects/bad-input/versions", [GOOD]), 400, 400)
    expect(reg.call("POST", "/subjects/bad-input/versions", {"schema": GOOD, "references": "x"}), 400, 400)
    expect(reg.call("POST", "/subjects/bad-input/versions", {"schema": GOOD, "id": "seven"}), 400, 400)
    expect(reg.call("POST", "/subjects/bad-input/versions", {"schema": {"type": "string"}}), 400, 400)
    expect(reg.call("PUT", "/config", {"normalize": "yes"}), 400, 400)


def test_unsupported_content_type(reg):
    response = reg.call("POST", "/subjects/bad-input/versions", {"schema": GOOD},
                        headers={"Content-Type": "text/plain"})
    expect(response, 415, 415)


def test_schema_that_does_not_parse(reg):
    for schema in ("not json", '{"type": "record", "name": "X"}', '{"type": "nope"}', '["int", "int"]',
                   '{"type":"record","name":"1bad","fields":[]}', '{"type":"enum","name":"E","symbols":["A","A"]}',
                   '{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}',
                   '{"type":"fixed","name":"F","size":-1}', "[" * 5000 + "]" * 5000):
        expect(reg.call("POST", "/subjects/bad-input/versions", {"schema": schema}), 422, 42201)
        lookup = reg.call("POST", "/subjects/bad-input", {"schema": schema})
        if '"default":"x"' in schema:
            # Like Confluent, lookups do not validate defaults: this schema simply is not there.
            expect(lookup, 404, 40403)
        else:
            expect(lookup, 422, 42201)
    expect(reg.call("POST", "/subjects/new-subject/versions", {}), 422, 42201, "Empty schema")
    expect(reg.call("POST", "/subjects/bad-input/versions", {"schema": GOOD, "schemaType": "XML"}), 422, 42201,
           "Invalid schema type XML")


def test_missing_reference(reg):
    person = json.dumps(record_schema("Person", {"name": "a", "type": "Address"}))
    expect(reg.call("POST", "/subjects/p/versions", {"schema": person}), 422, 42201, '"Address" is not a defined name')
    refs = [{"name": "Address", "subject": "no-such-subject", "version": 1}]
    expect(reg.call("POST", "/subjects/p/versions", {"schema": person, "references": refs}), 422, 42201,
           "No schema reference found")
    expect(reg.call("POST", "/subjects/p/versions", {"schema": person, "references": [{"name": "x"}]}), 422, 42201,
           "Invalid reference")


@pytest.mark.parametrize("version", ["abc", "0", "-2", "2147483648", "1.5", "latest1", "%20"])
def test_invalid_version_string(reg, version):
    expect(reg.call("GET", f"/subjects/bad-input/versions/{version}"), 422, 42202, "is not a valid version id")
    expect(reg.call("DELETE", f"/subjects/bad-input/versions/{version}"), 422, 42202)
    expect(reg.call("GET", f"/subjects/bad-input/versions/{version}/schema"), 422, 42202)
    expect(reg.call("GET", f"/subjects/bad-input/versions/{version}/referencedby"), 422, 42202)
    expect(reg.call("POST", f"/compatibility/subjects/bad-input/versions/{version}", {"schema": GOOD}), 422, 42202)


def test_valid_version_strings(reg):
    for version in ("1", "latest", "LATEST", "-1", " 1"):
        assert reg.call("GET", f"/subjects/bad-input/versions/{version}").status_code == 200, version


def test_invalid_compatibility_and_mode(reg):
    expect(reg.call("PUT", "/config", {"compatibility": "SIDEWAYS"}), 422, 42203, "Invalid compatibility level")
    expect(reg.call("PUT", "/config/bad-input", {"compatibility": 3}), 422, 42203)
    expect(reg.call("PUT", "/mode", {"mode": "WRITEONLY"}), 422, 42204, "Invalid mode")
    expect(reg.call("PUT", "/mode/bad-input", {"mode": None}), 422, 42204)
    expect(reg.call("PUT", "/mode/bad-input", {"mode": "FORWARD"}), 422, 42204, "global level")


@pytest.mark.parametrize("subject", ["line\nbreak", "tab\there", "bell\x07", "del\x7f", "nul\x00x", "__GLOBAL"])
def test_subject_with_control_characters(reg, subject):
    quoted = requests.utils.quote(subject, safe="")
    expect(reg.call("POST", f"/subjects/{quoted}/versions", {"schema": GOOD}), 422, 42208)
    expect(reg.call("PUT", f"/config/{quoted}", {"compatibility": "FULL"}), 422, 42208)
    expect(reg.call("PUT", f"/mode/{quoted}", {"mode": "READONLY"}), 422, 42208)
    expect(reg.call("GET", f"/subjects/{quoted}/versions"), 404, 40401)


def test_schema_too_large(reg):
    big = record_schema("Big", *[{"name": f"f{i}", "type": "string", "doc": "x" * 200} for i in range(5000)])
    expect(reg.call("POST", "/subjects/big/versions", {"schema": json.dumps(big)}), 422, 42209, "too large")


DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024


def _chunked(body: bytes, size: int = 65536):
    return (body[i:i + size] for i in range(0, len(body), size))


def test_request_body_over_the_limit(reg):
    """size.limit.filter.max.request.body.size (4 MiB by default): refused from the Content-Length,
    before the body is read; a chunked body is cut off at the limit."""
    over = b'{"schema": "' + b"x" * DEFAULT_MAX_REQUEST_BYTES + b'"}'
    for path in ("/subjects/bad-input/versions", "/subjects/bad-input", "/compatibility/subjects/bad-input/versions"):
        expect(reg.call("POST", path, raw=over), 413, 413, f"larger than the {DEFAULT_MAX_REQUEST_BYTES} bytes")
    response = requests.post(reg.url + "/subjects/bad-input/versions", data=_chunked(over),
                             headers={"Content-Type": V1}, timeout=30)
    expect(response, 413, 413, "size.limit.filter.max.request.body.size")
    # At the limit the body is read, and answered for what it is.
    at_limit = b'{"schema": "' + b"x" * (DEFAULT_MAX_REQUEST_BYTES - 14) + b'"}'
    assert len(at_limit) == DEFAULT_MAX_REQUEST_BYTES
    expect(reg.call("POST", "/subjects/bad-input/versions", raw=at_limit), 422, 42201)
    assert reg.call("GET", "/subjects/bad-input/versions").json() == [1]


def test_request_body_limit_is_configurable(registry_factory, monkeypatch):
    monkeypatch.setenv("SCHEMA_REGISTRY_SIZE_LIMIT_FILTER_MAX_REQUEST_BODY_SIZE", "65536")
    small = registry_factory()

    def schema_body(size: int) -> bytes:
        schema = record_schema("Sized", {"name": "a", "type": "string", "doc": "d" * (size - 120)})
        body = json.dumps({"schema": json.dumps(schema)}).encode()
        assert abs(len(body) - size) < 200, len(body)
        return body

    under, over = schema_body(64000), schema_body(67000)
    assert small.call("POST", "/subjects/sized/versions", raw=under).status_code == 200
    expect(small.call("POST", "/subjects/sized/versions", raw=over), 413, 413,
           "Request body of 67")
    expect(small.call("POST", "/subjects/sized", raw=over), 413, 413, "larger than the 65536 bytes")
    response = requests.post(small.url + "/subjects/sized/versions", data=_chunked(over, 4096),
                             headers={"Content-Type": V1}, timeout=30)
    expect(response, 413, 413, "larger than the 65536 bytes")
    assert small.call("POST", "/subjects/sized", raw=under).json()["version"] == 1

    monkeypatch.setenv("SCHEMA_REGISTRY_SIZE_LIMIT_FILTER_MAX_REQUEST_BODY_SIZE", "lots")
    proc = subprocess.run([sys.executable, "-m", "cli.main", "registry", "--bootstrap-server", small.bootstrap,
                           "--listen", f"127.0.0.1:{free_port()}"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "size.limit.filter.max.request.body.size must be a number of bytes" in proc.stderr, proc.stderr


def test_invalid_rule_set(reg):
    rules = {"domainRules": [{"name": "ok", "type": "CEL", "mode": "UPGRADE"}]}
    expect(reg.call("POST", "/subjects/rules/versions", {"schema": GOOD, "ruleSet": rules}), 422, 42210,
           "Domain rules can only be")
    duplicate = {"domainRules": [{"name": "a", "type": "CEL"}, {"name": "a", "type": "CEL"}]}
    expect(reg.call("POST", "/subjects/rules/versions", {"schema": GOOD, "ruleSet": duplicate}), 422, 42210,
           "duplicate name")
    expect(reg.call("PUT", "/config/rules", {"defaultRuleSet": {"migrationRules": [{"name": "m"}]}}), 422, 42210,
           "Missing rule type")


def test_unknown_things(reg):
    expect(reg.call("GET", "/schemas/ids/99999"), 404, 40403)
    expect(reg.call("GET", "/schemas/ids/abc"), 404, 404)
    expect(reg.call("GET", "/no/such/path"), 404, 404)
    expect(reg.call("PATCH", "/subjects"), 405, 405)
    expect(reg.call("GET", "/subjects/nobody/versions/1"), 404, 40401)
    expect(reg.call("GET", "/subjects/bad-input/versions/9"), 404, 40402)
    expect(reg.call("DELETE", "/subjects/nobody"), 404, 40401)
    expect(reg.call("GET", "/config/nobody"), 404, 40408)
    expect(reg.call("GET", "/mode/nobody"), 404, 40409)
    expect(reg.call("DELETE", "/config/nobody"), 404, 40401)


def test_confluent_client_quirks(reg):
    # Booleans in any case, unknown and snake_case parameters ignored, the client's extra header.
    response = reg.call("GET", "/subjects", deleted="True", deleted_only="False", reference_format="x",
                        headers={"Confluent-Accept-Unknown-Properties": "true"})
    assert response.status_code == 200 and "bad-input" in response.json()
    response = reg.call("POST", "/subjects/bad-input?normalize=FALSE&deleted=TRUE&unknown=1", {"schema": GOOD})
    assert response.status_code == 200 and response.json()["version"] == 1
    for content_type in ("application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json",
                         "application/json", "application/octet-stream"):
        response = reg.call("POST", "/subjects/bad-input", {"schema": GOOD}, headers={"Content-Type": content_type})
        assert response.status_code == 200, content_type
    response = reg.call("GET", "/schemas/types", headers={"Accept": "application/json"})
    assert response.headers["Content-Type"].startswith("application/json") and response.json() == ["AVRO", "JSON", "PROTOBUF"]
    response = reg.call("GET", "/schemas/types")
    assert response.headers["Content-Type"].startswith("application/vnd.schemaregistry.v1+json")
