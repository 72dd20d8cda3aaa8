"""The registry's errors: Confluent's error codes and messages, answered as {"error_code", "message"}.

HTTP status follows the code's family (404xx -> 404, 422xx -> 422, 500xx -> 500); the
incompatible-schema error is HTTP 409 with error_code 409 (Confluent 7.x; 8.x says 40901 and
clients look at the HTTP status).
"""

from __future__ import annotations


class RegistryError(Exception):
    """An error the REST layer answers as JSON with its HTTP status and Confluent error code."""

    def __init__(self, http_status: int, error_code: int, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict:
        return {"error_code": self.error_code, "message": self.message}


def _family(code: int) -> int:
    return int(str(code)[:3])


def error(code: int, message: str) -> RegistryError:
    return RegistryError(_family(code) if code > 999 else code, code, message)


# 404xx
def subject_not_found(subject) -> RegistryError:
    return error(40401, f"Subject '{subject}' not found.")


def version_not_found(version) -> RegistryError:
    return error(40402, f"Version {version} not found.")


def schema_not_found(what=None) -> RegistryError:
    return error(40403, "Schema not found" if what is None else f"Schema {what} not found")


def subject_soft_deleted(subject) -> RegistryError:
    return error(40404, f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently")


def subject_not_soft_deleted(subject) -> RegistryError:
    return error(40405, f"Subject '{subject}' was not deleted first before being permanently deleted")


def version_soft_deleted(subject, version) -> RegistryError:
    return error(40406, f"Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently")


def version_not_soft_deleted(subject, version) -> RegistryError:
    return error(40407, f"Subject '{subject}' Version {version} was not deleted first before being permanently deleted")


def subject_compatibility_not_configured(subject) -> RegistryError:
    return error(40408, f"Subject '{subject}' does not have subject-level compatibility configured")


def subject_mode_not_configured(subject) -> RegistryError:
    return error(40409, f"Subject '{subject}' does not have subject-level mode configured")


# 409
def incompatible_schema(subject: str, messages: list[str]) -> RegistryError:
    details = "[" + ", ".join(messages) + "]"
    return RegistryError(409, 409, f'Schema being registered is incompatible with an earlier schema for '
                                   f'subject "{subject}", details: {details}')


# 422xx
def invalid_schema(message: str) -> RegistryError:
    return error(42201, message)


def invalid_version(version) -> RegistryError:
    return error(42202, f"The specified version '{version}' is not a valid version id. "
                        'Allowed values are between [1, 2^31-1] and the string "latest"')


def invalid_compatibility(level=None) -> RegistryError:
    return error(42203, "Invalid compatibility level. Valid values are none, backward, forward, full, "
                        "backward_transitive, forward_transitive, and full_transitive")


def invalid_mode(message: str | None = None) -> RegistryError:
    return error(42204, message or "Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD.")


def operation_not_permitted(message: str) -> RegistryError:
    return error(42205, message)


def reference_exists(schema_key: str) -> RegistryError:
    return error(42206, f"One or more references exist to the schema {schema_key}.")


def id_does_not_match(message: str) -> RegistryError:
    return error(42207, message)


def invalid_subject(subject) -> RegistryError:
    return error(42208, f"The specified subject '{subject}' is not a valid.")


def schema_too_large(message: str) -> RegistryError:
    return error(42209, message)


def invalid_ruleset(message: str) -> RegistryError:
    return error(42210, message)


# 400: bodies that are not JSON or not of the expected shape (Confluent's rest-utils mappers)
def bad_request(message: str) -> RegistryError:
    return RegistryError(400, 400, message)


# 500xx
def store_error(message: str) -> RegistryError:
    return error(50001, message)


def timeout_error(message: str) -> RegistryError:
    return error(50002, message)


def forwarding_error(message: str) -> RegistryError:
    return error(50003, message)


def unknown_leader(message: str) -> RegistryError:
    return error(50004, message)


class NotLeader(RegistryError):
    """This instance may not write: the REST layer forwards the request to the leader
    (registry/forwarding.py); where nothing forwards it, it is answered as the 50004 it is."""


def not_leader(message: str) -> NotLeader:
    return NotLeader(500, 50004, message)
