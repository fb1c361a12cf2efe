"""The ECS rollout simulation: each scenario reaches the documented end state in bounded time."""

from __future__ import annotations

import re
import time
from typing import Any

from conftest import STEP, TIMINGS, describe, release, wait_until

DEP_ID = re.compile(r"^ecs-svc/\d{19}$")


def single_completed(ecs: Any, w: dict[str, Any], td: str) -> Any:
    def check() -> Any:
        s = describe(ecs, w)
        deps = s["deployments"]
        if len(deps) == 1 and deps[0]["rolloutState"] == "COMPLETED" and deps[0]["taskDefinition"] == td:
            if deps[0]["runningCount"] == 2 and s["runningCount"] == 2 and s["pendingCount"] == 0:
                return s
        return None

    return check


def test_seeded_service_is_steady(ecs, world):
    s = describe(ecs, world)
    assert s["desiredCount"] == 2 and s["runningCount"] == 2
    assert s["taskDefinition"] == world["taskDefinition"]
    assert s["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert s["deploymentConfiguration"]["maximumPercent"] == 200
    [d] = s["deployments"]
    assert d["status"] == "PRIMARY" and d["rolloutState"] == "COMPLETED" and DEP_ID.match(d["id"])
    tasks = ecs.list_tasks(cluster=world["cluster"], serviceName=world["service"])["taskArns"]
    assert len(tasks) == 2


def test_healthy_rollout(ecs, world):
    old = describe(ecs, world)["deployments"][0]
    t0 = time.time()
    td, dep = release(ecs, world, "healthy")
    s = describe(ecs, world)
    assert s["taskDefinition"] == td  # full ARN
    assert [d["status"] for d in s["deployments"]] == ["PRIMARY", "ACTIVE"]
    new = s["deployments"][0]
    assert DEP_ID.match(new["id"]) and new["id"] != old["id"]
    assert new["rolloutState"] == "IN_PROGRESS" and new["runningCount"] == 0 and new["pendingCount"] == 2
    assert s["deployments"][1]["id"] == old["id"] and s["deployments"][1]["runningCount"] == 2
    seen_states = set()

    def watch() -> Any:
        s = describe(ecs, world)
        seen_states.add(tuple((d["status"], d["runningCount"]) for d in s["deployments"]))
        return single_completed(ecs, world, td)()

    s = wait_until(watch, 10 * STEP + 5)
    TIMINGS["healthy"] = round(time.time() - t0, 2)
    assert s["deployments"][0]["id"] == dep
    msgs = [e["message"] for e in s["events"]]
    svc = world["service"]
    assert msgs[0] == f"(service {svc}) has reached a steady state."
    assert msgs[1] == f"(service {svc}) (deployment {dep}) deployment completed."
    assert any(re.match(rf"\(service {svc}\) has started 2 tasks: \(task [0-9a-f]{{32}}\) \(task [0-9a-f]{{32}}\)\.", m) for m in msgs)
    assert any(m.startswith(f"(service {svc}) has stopped 2 running tasks:") for m in msgs)
    assert len({e["id"] for e in s["events"]}) == len(s["events"])
    times = [e["createdAt"] for e in s["events"]]
    assert times == sorted(times, reverse=True)
    # the old tasks were replaced and say why
    stopped = ecs.list_tasks(cluster=world["cluster"], serviceName=svc, desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster=world["cluster"], tasks=stopped)["tasks"]
    assert len(tasks) == 2
    for t in tasks:
        assert t["stoppedReason"] == f"Scaling activity initiated by (deployment {dep})"
        assert t["stopCode"] == "ServiceSchedulerInitiated" and t["lastStatus"] == "STOPPED"
        assert t["startedBy"] == old["id"]
    running = ecs.list_tasks(cluster=world["cluster"], serviceName=svc)["taskArns"]
    tasks = ecs.describe_tasks(cluster=world["cluster"], tasks=running)["tasks"]
    assert len(tasks) == 2
    for t in tasks:
        assert t["taskDefinitionArn"] == td and t["startedBy"] == dep and t["healthStatus"] == "HEALTHY"
        assert t["group"] == f"service:{svc}" and t["lastStatus"] == "RUNNING"
        [c] = t["containers"]
        assert c["name"] == "app" and c["image"] == world["image"] and c["imageDigest"] == world["digest"]


def test_slow_rollout(ecs, world):
    t0 = time.time()
    td, _ = release(ecs, world, "slow")
    time.sleep(3 * STEP)
    assert describe(ecs, world)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    wait_until(single_completed(ecs, world, td), 30 * STEP + 5)
    TIMINGS["slow"] = round(time.time() - t0, 2)
    assert TIMINGS["slow"] >= 8 * STEP


def failing(ecs, world, scenario: str, stopped_reason: str, stop_code: str) -> None:
    first = describe(ecs, world)["deployments"][0]
    t0 = time.time()
    td, dep = release(ecs, world, scenario)
    seen_failed: list[Any] = []

    def watch() -> Any:
        s = describe(ecs, world)
        for d in s["deployments"]:
            if d["id"] == dep and d["rolloutState"] == "FAILED":
                seen_failed.append(d)
        if seen_failed and len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED":
            return s
        return None

    # Real containers: a crash is seen in a second or two; an unhealthy task only after its
    # health check's retries × interval (2 × 5 s), twice (the breaker's threshold is 3).
    s = wait_until(watch, (20 if scenario == "crashloop" else 40) * STEP + 5)
    TIMINGS[scenario] = round(time.time() - t0, 2)
    f = seen_failed[0]
    assert f["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert f["failedTasks"] >= 3
    [d] = s["deployments"]
    assert d["taskDefinition"] == first["taskDefinition"] != td  # rolled back
    assert d["id"] not in (dep, first["id"]) and d["runningCount"] == 2
    assert s["taskDefinition"] == first["taskDefinition"]
    svc = world["service"]
    msgs = [e["message"] for e in s["events"]]
    assert f"(service {svc}) (deployment {dep}) deployment failed: tasks failed to start." in msgs
    assert f"(service {svc}) rolling back to deployment {first['id']}." in msgs
    stopped = ecs.list_tasks(cluster=world["cluster"], serviceName=svc, desiredStatus="STOPPED", startedBy=dep)["taskArns"]
    failed_for_it = 0
    for t in ecs.describe_tasks(cluster=world["cluster"], tasks=stopped)["tasks"]:
        assert t["taskDefinitionArn"] == td
        if t["stoppedReason"].startswith("Scaling activity initiated by"):
            # A task still starting when the breaker tripped is stopped by the rollback's
            # scale-in (a loaded machine starts them slowly), as ECS stops it.
            assert t["stopCode"] == "ServiceSchedulerInitiated", t
            continue
        assert t["stoppedReason"] == stopped_reason and t["stopCode"] == stop_code, t
        failed_for_it += 1
    # The breaker's threshold (3) was reached by tasks that failed for the scenario's reason.
    assert failed_for_it >= 3, stopped


def test_crashloop_fails_and_rolls_back(ecs, world):
    failing(ecs, world, "crashloop", "Essential container in task exited", "EssentialContainerExited")
    stopped = ecs.list_tasks(cluster=world["cluster"], serviceName=world["service"], desiredStatus="STOPPED")["taskArns"]
    t = [t for t in ecs.describe_tasks(cluster=world["cluster"], tasks=stopped)["tasks"] if t["stopCode"] == "EssentialContainerExited"][0]
    assert t["containers"][0]["exitCode"] == 1


def test_unhealthy_fails_and_rolls_back(ecs, world):
    failing(ecs, world, "unhealthy", "Task failed container health checks", "ServiceSchedulerInitiated")


def test_crashloop_without_rollback_stays_failed(ecs, world):
    ecs.update_service(
        cluster=world["cluster"], service=world["service"],
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}, "maximumPercent": 200, "minimumHealthyPercent": 100},
    )
    first = describe(ecs, world)["deployments"][0]
    t0 = time.time()
    td, dep = release(ecs, world, "crashloop")

    def failed() -> Any:
        s = describe(ecs, world)
        return s if s["deployments"][0]["rolloutState"] == "FAILED" else None

    s = wait_until(failed, 15 * STEP + 5)
    TIMINGS["crashloop-no-rollback"] = round(time.time() - t0, 2)
    time.sleep(3 * STEP)
    s = describe(ecs, world)
    assert [(d["status"], d["rolloutState"]) for d in s["deployments"]] == [("PRIMARY", "FAILED"), ("ACTIVE", "COMPLETED")]
    assert s["deployments"][0]["id"] == dep and s["deployments"][0]["taskDefinition"] == td
    assert s["deployments"][1]["id"] == first["id"] and s["deployments"][1]["runningCount"] == 2
    assert s["runningCount"] == 2
    assert not any("rolling back" in e["message"] for e in s["events"])


def test_stuck_keeps_emitting_placement_events(ecs, world):
    t0 = time.time()
    td, dep = release(ecs, world, "stuck")
    placement = "was unable to place a task because no container instance met all of its requirements."

    def three() -> Any:
        s = describe(ecs, world)
        n = sum(placement in e["message"] for e in s["events"])
        return s if n >= 3 else None

    s = wait_until(three, 10 * STEP + 5)
    TIMINGS["stuck (3 placement events)"] = round(time.time() - t0, 2)
    assert s["deployments"][0]["rolloutState"] == "IN_PROGRESS" and s["deployments"][0]["runningCount"] == 0
    assert s["deployments"][1]["runningCount"] == 2 and s["runningCount"] == 2
    assert s["events"][0]["message"].startswith(f"(service {world['service']}) {placement}")


def test_second_update_supersedes(ecs, world):
    t0 = time.time()
    td2, dep2 = release(ecs, world, "healthy", version="2.0.0")
    time.sleep(1.5 * STEP)  # dep2 has started its tasks (pending) but not finished
    td3, dep3 = release(ecs, world, "healthy", version="3.0.0")
    s = describe(ecs, world)
    assert [d["id"] for d in s["deployments"]][:2] == [dep3, dep2]
    assert [d["status"] for d in s["deployments"]] == ["PRIMARY", "ACTIVE", "ACTIVE"]
    wait_until(single_completed(ecs, world, td3), 15 * STEP + 5)
    TIMINGS["superseded"] = round(time.time() - t0, 2)
    stopped = ecs.list_tasks(cluster=world["cluster"], serviceName=world["service"], desiredStatus="STOPPED", startedBy=dep2)["taskArns"]
    assert len(stopped) == 2
    for t in ecs.describe_tasks(cluster=world["cluster"], tasks=stopped)["tasks"]:
        assert t["stoppedReason"] == f"Scaling activity initiated by (deployment {dep3})"


def test_scale_out_and_in(ecs, world):
    ecs.update_service(cluster=world["cluster"], service=world["service"], desiredCount=3)

    def at(n: int) -> Any:
        def f() -> Any:
            s = describe(ecs, world)
            return s if s["runningCount"] == n and s["pendingCount"] == 0 and s["deployments"][0]["runningCount"] == n else None
        return f

    s = wait_until(at(3), 10 * STEP + 5)
    assert len(s["deployments"]) == 1 and s["desiredCount"] == 3
    ecs.update_service(cluster=world["cluster"], service=world["service"], desiredCount=1)
    wait_until(at(1), 10 * STEP + 5)
    assert len(ecs.list_tasks(cluster=world["cluster"], serviceName=world["service"])["taskArns"]) == 1


def test_list_tasks_filters(ecs, world):
    c = world["cluster"]
    other = ecs.create_service(
        cluster=c, serviceName="other", taskDefinition=world["taskDefinition"], desiredCount=1,
        tags=[{"key": "sandbox.steady", "value": "true"}],
    )["service"]
    assert other["runningCount"] == 1
    mine = ecs.list_tasks(cluster=c, serviceName=world["service"])["taskArns"]
    theirs = ecs.list_tasks(cluster=c, serviceName="other")["taskArns"]
    assert len(mine) == 2 and len(theirs) == 1 and not set(mine) & set(theirs)
    assert set(ecs.list_tasks(cluster=c)["taskArns"]) == set(mine) | set(theirs)
    dep = describe(ecs, world)["deployments"][0]["id"]
    assert set(ecs.list_tasks(cluster=c, startedBy=dep)["taskArns"]) == set(mine)
    assert ecs.list_tasks(cluster=c, serviceName=world["service"], desiredStatus="STOPPED")["taskArns"] == []
    ecs.delete_service(cluster=c, service="other", force=True)
    assert ecs.list_tasks(cluster=c, serviceName="other")["taskArns"] == []
    assert len(ecs.list_tasks(cluster=c, serviceName="other", desiredStatus="STOPPED")["taskArns"]) == 1
    gone = ecs.describe_services(cluster=c, services=["other"])["services"][0]
    assert gone["status"] == "INACTIVE" and gone["runningCount"] == 0
