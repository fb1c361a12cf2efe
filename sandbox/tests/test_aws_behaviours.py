"""The per-service switches and the ECS behaviours added on top of the rolling model:
eventual consistency, imageDigest, failedTasks reset, breaker stall, service deployments,
blue/green, deployment alarms, CODE_DEPLOY/EXTERNAL controllers, stuck placement."""

from __future__ import annotations

import time
import uuid
from typing import Any

import botocore.exceptions
import pytest

import seed
from conftest import STEP, describe, release, wait_until

SD_ARN = r"^arn:aws:ecs:us-east-1:123456789012:service-deployment/{c}/{s}/[A-Z0-9]{{8}}-[A-Za-z0-9]{{12}}$"


def named(request: Any, **kw: Any) -> dict[str, Any]:
    name = "b-" + request.node.name.replace("_", "-")[:36] + "-" + uuid.uuid4().hex[:6]
    return seed.seed_named(name, **kw)


def sds(ecs: Any, w: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    return ecs.list_service_deployments(cluster=w["cluster"], service=w["service"], **kw)["serviceDeployments"]


def sd_full(ecs: Any, arn: str) -> dict[str, Any]:
    r = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    assert r["failures"] == []
    return r["serviceDeployments"][0]


def test_stale_reads(ecs, request):
    w = named(request, tags={"sandbox.stale-reads": "2"})
    before = describe(ecs, w)
    [sd0] = sds(ecs, w)
    assert before["currentServiceDeployment"] == sd0["serviceDeploymentArn"]
    td = seed.register(w["family"], w["image"], w["digest"], w["secret"], version="2.0.0")
    upd = ecs.update_service(cluster=w["cluster"], service=w["service"], taskDefinition=td)["service"]
    assert upd["taskDefinition"] == td and len(upd["deployments"]) == 2  # the response is the new state
    assert upd["currentServiceDeployment"] != sd0["serviceDeploymentArn"]
    for _ in range(2):  # two stale answers of each kind
        s = describe(ecs, w)
        assert s["taskDefinition"] == w["taskDefinition"] and [d["id"] for d in s["deployments"]] == [before["deployments"][0]["id"]]
        assert s["currentServiceDeployment"] == sd0["serviceDeploymentArn"]
        assert [x["serviceDeploymentArn"] for x in sds(ecs, w)] == [sd0["serviceDeploymentArn"]]
    s = describe(ecs, w)
    assert s["taskDefinition"] == td and s["currentServiceDeployment"] == upd["currentServiceDeployment"]
    assert len(sds(ecs, w)) == 2


def test_image_digest_absent_switch(ecs, request):
    w = named(request, tags={"sandbox.image-digest": "absent"})
    arns = ecs.list_tasks(cluster=w["cluster"], serviceName=w["service"])["taskArns"]
    for t in ecs.describe_tasks(cluster=w["cluster"], tasks=arns)["tasks"]:
        assert "imageDigest" not in t["containers"][0]
    # TagResource at call time turns it back on
    svc = describe(ecs, w)["serviceArn"]
    ecs.untag_resource(resourceArn=svc, tagKeys=["sandbox.image-digest"])
    for t in ecs.describe_tasks(cluster=w["cluster"], tasks=arns)["tasks"]:
        assert t["containers"][0]["imageDigest"] == w["digest"]


def test_failed_tasks_reset_unit(monkeypatch):
    import ecs_rollout as er
    import tasks

    # The model alone, in this process: simulated tasks, asked for explicitly (README).
    monkeypatch.setattr(er, "RUNNER", tasks.SimulatedRunner())

    class TD:
        arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/x:1"
        container_definitions = [{"name": "app", "image": "x@sha256:" + "0" * 64}]

    class Svc:
        name, cluster_name, cluster_arn, launch_type, desired_count, tags = "s", "c", "arn:c", "EC2", 2, []
        arn = "arn:s"

    class Backend:
        region_name, account_id = "us-east-1", "123456789012"

    sim = er.ServiceSim(Backend(), Svc(), {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}, 0.0)
    dep = sim.new_deployment(TD(), 0.0)
    dep.failed_tasks = 2
    sim.step(1.0)  # launches 2 tasks
    sim.step(2.0)  # they reach RUNNING/HEALTHY -> reset
    assert dep.failed_tasks == 0 and len(dep.running()) == 2


def test_crashloop_still_trips_breaker_and_sd_rolls_back(ecs, world):
    [sd0] = sds(ecs, world)
    first = describe(ecs, world)["deployments"][0]
    td, dep = release(ecs, world, "crashloop")
    cur = describe(ecs, world)["currentServiceDeployment"]
    seen: set[str] = set()

    def done() -> Any:
        sd = sd_full(ecs, cur)
        seen.add(sd["status"])
        return sd if sd["status"] == "ROLLBACK_SUCCESSFUL" else None

    sd = wait_until(done, 25 * STEP + 5)
    assert "ROLLBACK_IN_PROGRESS" in seen
    assert sd["rollback"]["serviceRevisionArn"] == sd0["targetServiceRevisionArn"]
    assert sd["rollback"]["reason"] == "The circuit breaker initiated the rollback operation."
    assert sd["deploymentCircuitBreaker"]["status"] == "TRIGGERED" and sd["deploymentCircuitBreaker"]["threshold"] == 3
    assert sd["sourceServiceRevisions"][0]["arn"] == sd0["targetServiceRevisionArn"]
    assert sd["statusReason"] == "ECS deployment circuit breaker: tasks failed to start."
    s = describe(ecs, world)
    [d] = s["deployments"]
    assert d["taskDefinition"] == first["taskDefinition"] and d["id"] not in (dep, first["id"])
    assert s["currentServiceDeployment"] == cur  # no new service deployment for the rollback
    assert [x["status"] for x in sds(ecs, world)] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]


def test_breaker_without_completed_deployment_stalls(ecs, request):
    w = named(request, steady=False, scenario="crashloop")  # rollback on, nothing COMPLETED yet

    def failed() -> Any:
        s = describe(ecs, w)
        return s if s["deployments"][0]["rolloutState"] == "FAILED" else None

    s = wait_until(failed, 15 * STEP + 5)
    time.sleep(3 * STEP)
    s = describe(ecs, w)
    [d] = s["deployments"]
    assert d["status"] == "PRIMARY" and d["rolloutState"] == "FAILED" and s["runningCount"] == 0
    assert not any("rolling back" in e["message"] for e in s["events"])
    n_started = sum("has started" in e["message"] for e in s["events"])
    time.sleep(2 * STEP)
    assert sum("has started" in e["message"] for e in describe(ecs, w)["events"]) == n_started  # launches nothing
    [sd] = sds(ecs, w)
    assert sd["status"] == "STOPPED" and "rollback" not in sd_full(ecs, sd["serviceDeploymentArn"])


def test_service_deployment_api_shape_and_filters(ecs, world):
    import re

    [sd0] = sds(ecs, world)
    assert re.match(SD_ARN.format(c=world["cluster"], s=world["service"]), sd0["serviceDeploymentArn"])
    assert sd0["status"] == "SUCCESSFUL" and sd0["targetServiceRevisionArn"].startswith(
        f"arn:aws:ecs:us-east-1:123456789012:service-revision/{world['cluster']}/{world['service']}/")
    t_mid = time.time()
    td, dep = release(ecs, world, "healthy")
    cur = describe(ecs, world)["currentServiceDeployment"]
    full = sd_full(ecs, cur)
    assert full["status"] in ("PENDING", "IN_PROGRESS") and full["targetServiceRevision"]["requestedTaskCount"] == 2
    for k in ("serviceArn", "clusterArn", "createdAt", "deploymentConfiguration", "deploymentCircuitBreaker", "alarms"):
        assert k in full
    assert full["alarms"] == {"status": "DISABLED"}
    assert [x["serviceDeploymentArn"] for x in sds(ecs, world)] == [cur, sd0["serviceDeploymentArn"]]  # newest first
    assert [x["serviceDeploymentArn"] for x in sds(ecs, world, status=["SUCCESSFUL"])] == [sd0["serviceDeploymentArn"]]
    assert [x["serviceDeploymentArn"] for x in sds(ecs, world, createdAt={"after": t_mid})] == [cur]
    page = ecs.list_service_deployments(cluster=world["cluster"], service=world["service"], maxResults=1)
    assert len(page["serviceDeployments"]) == 1 and page["nextToken"]
    page2 = ecs.list_service_deployments(cluster=world["cluster"], service=world["service"], maxResults=1, nextToken=page["nextToken"])
    assert page2["serviceDeployments"][0]["serviceDeploymentArn"] == sd0["serviceDeploymentArn"]
    wait_until(lambda: sd_full(ecs, cur)["status"] == "SUCCESSFUL", 15 * STEP + 5)
    missing = cur[:-3] + "xyz"
    r = ecs.describe_service_deployments(serviceDeploymentArns=[missing])
    assert r["serviceDeployments"] == [] and r["failures"][0]["arn"] == missing


def test_stop_service_deployment_rolls_back(ecs, world):
    [sd0] = sds(ecs, world)
    release(ecs, world, "stuck")
    cur = describe(ecs, world)["currentServiceDeployment"]
    assert ecs.stop_service_deployment(serviceDeploymentArn=cur, stopType="ROLLBACK")["serviceDeploymentArn"] == cur
    sd = wait_until(lambda: (lambda x: x if x["status"] == "ROLLBACK_SUCCESSFUL" else None)(sd_full(ecs, cur)), 15 * STEP + 5)
    assert sd["rollback"]["serviceRevisionArn"] == sd0["targetServiceRevisionArn"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.stop_service_deployment(serviceDeploymentArn=cur)
    assert e.value.response["Error"]["Code"] == "ConflictException"


def test_service_deployments_denied(ecs, request):
    w = named(request, tags={"sandbox.service-deployments": "denied"})
    arn = describe(ecs, w)["currentServiceDeployment"]
    for call in (
        lambda: ecs.list_service_deployments(cluster=w["cluster"], service=w["service"]),
        lambda: ecs.describe_service_deployments(serviceDeploymentArns=[arn]),
        lambda: ecs.stop_service_deployment(serviceDeploymentArn=arn),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_blue_green_bake(ecs, request):
    w = named(request, strategy="BLUE_GREEN", bake_minutes=2, tags={"sandbox.minute": str(STEP)})
    s = describe(ecs, w)
    assert s["deploymentConfiguration"]["strategy"] == "BLUE_GREEN" and s["deploymentConfiguration"]["bakeTimeInMinutes"] == 2
    blue = s["deployments"][0]["id"]
    t0 = time.time()
    td, green = release(ecs, w, "healthy")
    cur = describe(ecs, w)["currentServiceDeployment"]
    stages: list[str] = []
    during_bake: list[Any] = []

    def watch() -> Any:
        sd = sd_full(ecs, cur)
        st = sd.get("lifecycleStage")
        if st and (not stages or stages[-1] != st):
            stages.append(st)
        if st == "BAKE_TIME" and not during_bake:
            during_bake.append(describe(ecs, w))
        return sd if sd["status"] == "SUCCESSFUL" else None

    sd = wait_until(watch, 40 * STEP + 10, every=0.1)
    assert stages[0] == "PRE_SCALE_UP" and stages[-1] == "CLEAN_UP"
    assert stages.index("SCALE_UP") < stages.index("PRODUCTION_TRAFFIC_SHIFT") < stages.index("BAKE_TIME") < stages.index("CLEAN_UP")
    assert time.time() - t0 >= 2 * STEP  # the bake lasted 2 sandbox minutes
    b = during_bake[0]
    assert [(d["id"], d["status"], d["rolloutState"], d["runningCount"]) for d in b["deployments"]] == [
        (green, "PRIMARY", "IN_PROGRESS", 2), (blue, "ACTIVE", "COMPLETED", 2)]
    assert b["runningCount"] == 4
    s = describe(ecs, w)
    assert [d["id"] for d in s["deployments"]] == [green] and s["runningCount"] == 2
    assert s["deployments"][0]["rolloutState"] == "COMPLETED"


def test_alarm_fails_and_rolls_back(ecs, request):
    w = named(request, alarms=["cpu-" + uuid.uuid4().hex[:6]], alarm_rollback=True, tags={"sandbox.minute": str(60 * STEP)})
    s = describe(ecs, w)
    assert s["deploymentConfiguration"]["alarms"]["enable"] is True
    name = s["deploymentConfiguration"]["alarms"]["alarmNames"][0]
    first = s["deployments"][0]
    td, dep = release(ecs, w, "healthy")
    cur = describe(ecs, w)["currentServiceDeployment"]
    time.sleep(1.5 * STEP)
    seed.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    seen: list[Any] = []

    def watch() -> Any:
        s = describe(ecs, w)
        for d in s["deployments"]:
            if d["id"] == dep and d["rolloutState"] == "FAILED":
                seen.append(d)
        sd = sd_full(ecs, cur)
        return sd if sd["status"] == "ROLLBACK_SUCCESSFUL" else None

    sd = wait_until(watch, 30 * STEP + 10)
    assert seen and seen[0]["rolloutStateReason"] == f"ECS deployment failed: alarm(s) {name} in ALARM state."
    assert sd["alarms"] == {"status": "TRIGGERED", "alarmNames": [name], "triggeredAlarmNames": [name]}
    s = describe(ecs, w)
    assert s["deployments"][0]["taskDefinition"] == first["taskDefinition"]
    msgs = [e["message"] for e in s["events"]]
    assert f"(service {w['service']}) rolling back to deployment {first['id']}." in msgs


@pytest.mark.parametrize("controller", ["CODE_DEPLOY", "EXTERNAL"])
def test_non_ecs_controllers_refuse_task_definition(ecs, request, controller):
    w = named(request, controller=controller)
    s = describe(ecs, w)
    assert s["deploymentController"] == {"type": controller}
    td = seed.register(w["family"], w["image"], w["digest"], w["secret"], version="2.0.0")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.update_service(cluster=w["cluster"], service=w["service"], taskDefinition=td)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert f"Unable to update task definition on services with a {controller} deployment controller." in e.value.response["Error"]["Message"]
    ecs.update_service(cluster=w["cluster"], service=w["service"], desiredCount=3)  # allowed


def test_stuck_placement_event_and_zero_running(ecs, world):
    _, dep = release(ecs, world, "stuck")
    msg = (f"(service {world['service']}) was unable to place a task because no container instance met all of its "
           "requirements. Reason: No Container Instances were found in your cluster. For more information, see the "
           "Troubleshooting section of the Amazon ECS Developer Guide.")
    s = wait_until(lambda: (lambda s: s if any(e["message"] == msg for e in s["events"]) else None)(describe(ecs, world)), 5 * STEP + 5)
    d = s["deployments"][0]
    assert d["id"] == dep and d["runningCount"] == 0 and d["rolloutState"] == "IN_PROGRESS"
