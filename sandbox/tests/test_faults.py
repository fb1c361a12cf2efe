"""Write faults: applied-then-500 and throttled writes (sandbox/faults.py), as the ECS API
reference's Common Errors describe ServerException and ThrottlingException."""

from __future__ import annotations

import uuid

import botocore.exceptions
import pytest

import seed
from conftest import describe


def named(prefix: str, tags: dict[str, str]) -> dict:
    return seed.seed_named(f"{prefix}-{uuid.uuid4().hex[:8]}", tags=tags)


def ecs_without_retries():
    """A client that sends each call once: botocore would retry both faults by itself."""
    import os

    import boto3
    from botocore.config import Config

    return boto3.client(
        "ecs",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def test_fail_after_apply_changes_the_service_then_answers_500():
    w = named("faa", {"sandbox.fail-after-apply": "1"})
    ecs = ecs_without_retries()
    before = len(describe(ecs, w)["deployments"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.update_service(cluster=w["cluster"], service=w["service"], forceNewDeployment=True)
    assert e.value.response["Error"]["Code"] == "ServerException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(describe(ecs, w)["deployments"]) == before + 1  # it was applied
    ecs.update_service(cluster=w["cluster"], service=w["service"], forceNewDeployment=True)  # only N=1


def test_throttled_writes_change_nothing():
    w = named("thr", {"sandbox.throttle-writes": "2"})
    ecs = ecs_without_retries()
    before = len(describe(ecs, w)["deployments"])
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ecs.update_service(cluster=w["cluster"], service=w["service"], forceNewDeployment=True)
        assert e.value.response["Error"]["Code"] == "ThrottlingException"
    assert len(describe(ecs, w)["deployments"]) == before
    ecs.update_service(cluster=w["cluster"], service=w["service"], forceNewDeployment=True)
    assert len(describe(ecs, w)["deployments"]) == before + 1


def test_register_with_the_fault_tag_registers_then_answers_500():
    ecs = ecs_without_retries()
    family = f"faa-td-{uuid.uuid4().hex[:8]}"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.register_task_definition(
            family=family,
            containerDefinitions=[{"name": "app", "image": "x", "memory": 16}],
            tags=[{"key": "sandbox.fail-after-apply", "value": "1"}],
        )
    assert e.value.response["Error"]["Code"] == "ServerException"
    assert ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
