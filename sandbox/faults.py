"""Faults of ECS's write calls, patched into moto 5.2.5 (server mode), so that tests see what a
client must survive on AWS: a write that was applied although its answer is an error, and a
write refused by throttling.

ECS API reference, "Common Errors" (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/CommonErrors.html):
ThrottlingException (HTTP 400) rejects the request ("The request was denied due to request
throttling"), so it changed nothing and may be sent again; ServerException (HTTP 500, "These
errors are usually caused by a server issue") says nothing about whether the request took
effect, so a client must read the resource back before sending it again.

Switches:
- service tag `sandbox.fail-after-apply=N`: the next N UpdateService calls on the service are
  applied, then answered with ServerException (HTTP 500);
- service tag `sandbox.throttle-writes=N`: the next N UpdateService calls on the service are
  answered with ThrottlingException (HTTP 400) and change nothing;
- RegisterTaskDefinition whose request `tags` hold `sandbox.fail-after-apply`: the revision is
  registered, then the call is answered with ServerException.
Counts live in memory per service ARN; POST /moto-api/reset does not clear them, a new
service (new ARN) starts at zero.
"""

from __future__ import annotations

import threading
from typing import Any

FAIL_AFTER_APPLY = "sandbox.fail-after-apply"
THROTTLE_WRITES = "sandbox.throttle-writes"

_lock = threading.Lock()
_used: dict[tuple[str, str], int] = {}


def _take(arn: str, tags: list[dict[str, str]], key: str) -> bool:
    """Whether this call is one of the first N the tag asks to fault (and count it)."""
    value = next((t.get("value") for t in tags or [] if t.get("key") == key), None)
    try:
        limit = int(value) if value is not None else 0
    except ValueError:
        limit = 0
    with _lock:
        used = _used.get((arn, key), 0)
        if used >= limit:
            return False
        _used[(arn, key)] = used + 1
        return True


def _error(kind: str, status: int, message: str) -> tuple[str, dict[str, Any]]:
    """An error as ECS sends it on its JSON protocol: the HTTP status and `__type`."""
    import json

    body = json.dumps({"__type": kind, "message": message})
    return body, {"status": status, "content-type": "application/x-amz-json-1.1"}


def _server_error() -> tuple[str, dict[str, Any]]:
    return _error("ServerException", 500, "Service Unavailable. Please try again later.")


def install() -> None:
    from moto.ecs import responses as r

    R = r.EC2ContainerServiceResponse
    orig_update = R.update_service
    orig_register = R.register_task_definition

    def service_of(self: Any) -> Any:
        cluster = self._get_param("cluster", "default")
        name = str(self._get_param("service", "")).split("/")[-1]
        try:
            return self.ecs_backend._get_service(cluster, name)
        except Exception:
            return None

    def update_service(self: Any) -> Any:
        service = service_of(self)
        if service is not None and _take(service.arn, service.tags, THROTTLE_WRITES):
            return _error("ThrottlingException", 400, "Rate exceeded")
        result = orig_update(self)
        if service is not None and _take(service.arn, service.tags, FAIL_AFTER_APPLY):
            return _server_error()
        return result

    def register_task_definition(self: Any) -> Any:
        tags = self._get_param("tags") or []
        result = orig_register(self)
        if any(t.get("key") == FAIL_AFTER_APPLY for t in tags):
            return _server_error()
        return result

    R.update_service = update_service
    R.register_task_definition = register_task_definition
