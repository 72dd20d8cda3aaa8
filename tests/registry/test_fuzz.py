"""Fuzz of the REST API from the OpenAPI document the registry serves: no request gets a 500."""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error


@pytest.fixture(scope="module")
def fuzz_registry(module_registry):
    # Something to find, so generated requests also reach the paths behind existing subjects.
    module_registry.register("fuzz", {"type": "record", "name": "F", "fields": [{"name": "a", "type": "int"}]})
    return module_registry


def _operations(url: str):
    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in api.get_all_operations()]


def test_no_server_errors(fuzz_registry):
    """Every operation, with generated (valid and invalid) parameters and bodies."""
    operations = _operations(fuzz_registry.url)
    assert len(operations) >= 35
    for operation, mode in itertools.product(operations, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):
        @given(case=operation.as_strategy(mode))
        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(checks=[not_a_server_error], timeout=30)

        try:
            fuzz()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing in this operation can be made invalid
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}") from exc


def test_openapi_document_covers_the_api(fuzz_registry):
    document = fuzz_registry.call("GET", "/openapi.json").json()
    paths = document["paths"]
    for path in ("/subjects/{subject}/versions", "/schemas/ids/{id}", "/config/{subject}", "/mode",
                 "/compatibility/subjects/{subject}/versions/{version}", "/subjects/{subject}/versions/{version}"):
        assert path in paths
    assert sum(len(ops) for ops in paths.values()) >= 35
