"""kafka-rest's errors: `{"error_code": int, "message": str}` with its codes and messages
(docs/design/rest-proxy.md, section 2). The HTTP status is the code's first three digits."""

from __future__ import annotations


class RestError(Exception):
    def __init__(self, error_code: int, message: str, http_status: int | None = None):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.http_status = http_status or (int(str(error_code)[:3]) if error_code > 999 else error_code)

    def body(self) -> dict:
        return {"error_code": self.error_code, "message": self.message}


def topic_not_found() -> RestError:
    return RestError(40401, "Topic not found.")


def partition_not_found() -> RestError:
    return RestError(40402, "Partition not found.")


def bad_request(message: str) -> RestError:
    return RestError(400, f"Bad Request: {message}")


def kafka_error(message: str) -> RestError:
    return RestError(50002, message)
