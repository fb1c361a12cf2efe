"""Fixtures for the sandbox's own tests. Run against a running sandbox:

    scripts/sandbox up && . .sandbox/env && $SANDBOX_PYTHON -m pytest sandbox/tests -q
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any, Callable

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import seed  # noqa: E402

STEP = float(os.environ.get("SANDBOX_STEP", "1"))
TIMINGS: dict[str, float] = {}


def pytest_configure(config: Any) -> None:
    missing = [v for v in ("AWS_ENDPOINT_URL", "RELEASE_SANDBOX_REGISTRY", "DOCKER_HOST") if v not in os.environ]
    if missing:
        raise pytest.UsageError(f"sandbox env missing {missing}: run scripts/sandbox up and . .sandbox/env")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if TIMINGS:
        state = os.environ.get("SANDBOX_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", ".sandbox")
        try:
            with open(os.path.join(state, "scenario-timings.json"), "w") as f:
                json.dump({"step": STEP, "seconds": TIMINGS}, f, indent=1)
        except OSError:
            pass


@pytest.fixture(scope="session")
def ecs() -> Any:
    return seed.client("ecs")


@pytest.fixture(scope="session")
def ssm() -> Any:
    return seed.client("ssm")


@pytest.fixture(scope="session")
def ecr() -> Any:
    return seed.client("ecr")


@pytest.fixture
def world(request: Any) -> dict[str, Any]:
    """An isolated service for this test (seed.py --name), steady at 2/2."""
    name = "t-" + request.node.name.replace("_", "-")[:40] + "-" + uuid.uuid4().hex[:6]
    return seed.seed_named(name)


def release(ecs: Any, w: dict[str, Any], scenario: str, version: str = "2.0.0", **kw: Any) -> tuple[str, str]:
    """Register a new revision with the given scenario label and UpdateService to it.
    Returns (task definition ARN, new deployment id)."""
    td = seed.register(w["family"], w["image"], w["digest"], w["secret"], scenario=scenario, version=version)
    svc = ecs.update_service(cluster=w["cluster"], service=w["service"], taskDefinition=td, forceNewDeployment=True, **kw)["service"]
    primary = [d for d in svc["deployments"] if d["status"] == "PRIMARY"]
    assert len(primary) == 1 and primary[0]["taskDefinition"] == td
    return td, primary[0]["id"]


def describe(ecs: Any, w: dict[str, Any]) -> dict[str, Any]:
    return ecs.describe_services(cluster=w["cluster"], services=[w["service"]])["services"][0]


def wait_until(fn: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"condition not reached in {timeout} s")
        time.sleep(every)
