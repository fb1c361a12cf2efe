"""Tasks are containers (tasks.py): the agent's labels, host ports, secrets byte for byte, docker
health checks, exit codes, awslogs streams and the load balancer (lb.py)."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import seed
from conftest import TIMINGS, describe, release, wait_until
from docker_api import Docker, DockerError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def lb_url(w: dict[str, Any]) -> str:
    with open(os.path.join(os.environ["SANDBOX_DIR"], "lb", w["cluster"], w["service"] + ".url")) as f:
        return f.read().strip()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def containers(w: dict[str, Any], running_only: bool = True) -> list[dict[str, Any]]:
    d = Docker()
    out = []
    for c in d.list(f"com.amazonaws.ecs.cluster={w['cluster']}"):
        if running_only and c["State"] != "running":
            continue
        try:
            out.append(d.inspect(c["Id"]))
        except DockerError as e:
            if e.status != 404:
                raise
            # Removed between the list and the inspect: the agent's cleanup raced this read.
    return out


def tasks(ecs: Any, w: dict[str, Any], status: str = "RUNNING") -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster=w["cluster"], serviceName=w["service"], desiredStatus=status)["taskArns"]
    return ecs.describe_tasks(cluster=w["cluster"], tasks=arns)["tasks"] if arns else []


def test_a_task_is_its_containers(ecs, ssm, world):
    """Agent labels, host network, a host port per mapping (PORT, networkBindings), the secret's
    bytes, the health check as the definition says, the digest docker pulled."""
    cs = wait_until(lambda: (lambda c: c if len(c) == 2 else None)(containers(world)), 30)
    ts = {t["taskArn"]: t for t in tasks(ecs, world)}
    secret = ssm.get_parameter(Name=world["secret"], WithDecryption=True)["Parameter"]["Value"]
    for c in cs:
        labels = c["Config"]["Labels"]
        t = ts[labels["com.amazonaws.ecs.task-arn"]]
        assert labels["com.amazonaws.ecs.cluster"] == world["cluster"]
        assert labels["com.amazonaws.ecs.container-name"] == "app"
        assert labels["com.amazonaws.ecs.task-definition-family"] == world["family"]
        assert labels["com.amazonaws.ecs.task-definition-version"] == "1"
        assert c["HostConfig"]["NetworkMode"] == "host" and c["HostConfig"]["Init"] is True
        env = dict(e.split("=", 1) for e in c["Config"]["Env"])
        assert env["JWT_SECRET"] == secret and env["RELEASE_VERSION"] == "1.0.0"
        [binding] = t["containers"][0]["networkBindings"]
        assert binding["containerPort"] == 8080 and binding["bindIP"] == "127.0.0.1"
        assert env["PORT"] == env["PORT_8080"] == str(binding["hostPort"])
        hc = c["Config"]["Healthcheck"]
        assert hc["Test"] == seed.HEALTH_CHECK["command"]
        assert (hc["Interval"], hc["Timeout"], hc["Retries"], hc.get("StartPeriod", 0)) == (5 * 10**9, 4 * 10**9, 2, 0)
        assert t["containers"][0]["imageDigest"] == world["digest"] and t["containers"][0]["runtimeId"] == c["Id"]
    ports = {t["containers"][0]["networkBindings"][0]["hostPort"] for t in ts.values()}
    assert len(ports) == 2


def test_a_new_task_reaches_running_then_healthy(ecs, world):
    t0 = time.time()
    td, dep = release(ecs, world, "healthy")

    def new(status: str, health: str) -> Any:
        ts = [t for t in tasks(ecs, world) if t["startedBy"] == dep]
        return ts if len(ts) == 2 and all(t["lastStatus"] == status and t["healthStatus"] == health for t in ts) else None

    wait_until(lambda: new("RUNNING", "UNKNOWN") or new("RUNNING", "HEALTHY"), 20)
    TIMINGS["task RUNNING"] = round(time.time() - t0, 2)
    wait_until(lambda: new("RUNNING", "HEALTHY"), 20)
    TIMINGS["task HEALTHY"] = round(time.time() - t0, 2)


def test_an_exiting_container_stops_its_task_with_its_exit_code_and_log_lines(ecs, world):
    logs = seed.client("logs")
    td, dep = release(ecs, world, "crashloop")

    def stopped() -> Any:
        ts = [t for t in tasks(ecs, world, "STOPPED") if t["startedBy"] == dep]
        return ts or None

    [t, *_] = wait_until(stopped, 30)
    assert t["stoppedReason"] == "Essential container in task exited" and t["stopCode"] == "EssentialContainerExited"
    assert t["containers"][0]["exitCode"] == 1 and t["containers"][0]["lastStatus"] == "STOPPED"
    task_id = t["taskArn"].rsplit("/", 1)[1]
    # awslogs: group awslogs-group, stream awslogs-stream-prefix/container-name/task-id, and the
    # app's lines are there once ECS reports the task STOPPED.
    events = logs.get_log_events(logGroupName=f"/ecs/{world['family']}", logStreamName=f"ecs/app/{task_id}")["events"]
    assert [e["message"] for e in events] == ["app 1.0.0: crashing on purpose (SANDBOX_SCENARIO=crashloop)"]


def test_the_load_balancer_routes_to_healthy_tasks_and_drains_stopped_ones(ecs, world):
    url = lb_url(world)
    wait_until(lambda: get(url + "/")[0] == 200, 20)
    status, body = get(url + "/")
    assert "version 1.0.0" in body
    assert get(url + "/health") == (200, "ok\n")
    ecs.update_service(cluster=world["cluster"], service=world["service"], desiredCount=0)
    t0 = time.time()
    wait_until(lambda: get(url + "/")[0] == 503, 15)
    TIMINGS["deregistered"] = round(time.time() - t0, 2)
    wait_until(lambda: not containers(world, running_only=False), 30)  # stopped and removed
    ecs.update_service(cluster=world["cluster"], service=world["service"], desiredCount=1)
    wait_until(lambda: get(url + "/")[0] == 200, 30)
    assert lb_url(world) == url  # the same port all along


def test_a_missing_secret_fails_the_task_before_any_container(ecs, world):
    c = seed.container_definition(world["family"], world["image"], world["secret"] + "-missing")
    td = ecs.register_task_definition(family=world["family"], containerDefinitions=[c])["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=world["cluster"], service=world["service"], taskDefinition=td)
    dep = describe(ecs, world)["deployments"][0]["id"]
    ts = wait_until(lambda: [t for t in tasks(ecs, world, "STOPPED") if t["startedBy"] == dep] or None, 20)
    assert ts[0]["stopCode"] == "TaskFailedToStart"
    assert ts[0]["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets or registry auth")


def test_an_image_that_is_not_there_cannot_be_pulled(ecs, world):
    c = seed.container_definition(world["family"], f"{os.environ['RELEASE_SANDBOX_REGISTRY']}/app:no-such-{uuid.uuid4().hex[:6]}", world["secret"])
    td = ecs.register_task_definition(family=world["family"], containerDefinitions=[c])["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=world["cluster"], service=world["service"], taskDefinition=td)
    dep = describe(ecs, world)["deployments"][0]["id"]
    ts = wait_until(lambda: [t for t in tasks(ecs, world, "STOPPED") if t["startedBy"] == dep] or None, 20)
    assert ts[0]["stopCode"] == "TaskFailedToStart" and ts[0]["stoppedReason"].startswith("CannotPullContainerError:")
