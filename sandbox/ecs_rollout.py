"""ECS rolling-deployment simulation patched into moto 5.2.5 (server mode).

moto keeps a single PRIMARY deployment that never moves, starts no tasks and writes no
events.  This module replaces the service/task part of moto's ECS backend with a small,
time-driven model of the ECS rolling update ("ECS" deployment controller):

* UpdateService with a new task definition or forceNewDeployment creates a new PRIMARY
  deployment; the previous PRIMARY becomes ACTIVE and drains.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html
* minimumHealthyPercent (rounded up) / maximumPercent (rounded down) bound how many tasks
  run during the rollout (same page as above).
* The deployment circuit breaker: threshold = clamp(ceil(0.5 * desiredCount), 3, 200)
  failed tasks; the deployment goes FAILED and, with rollback on, ECS starts a new
  deployment on the last COMPLETED one.
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
* Service event messages as ECS writes them (newest first, at most 100 kept).
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html
* Task fields, stop codes and reasons.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-errors.html
* ListTasks' default desiredStatus is RUNNING.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html
* failedTasks resets to 0 when a task of the deployment reaches a healthy state
  (DeploymentCircuitBreaker.resetOnHealthyTask, default true).
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentCircuitBreaker.html
* Rollback needs a previous deployment in COMPLETED state; without one the failed deployment
  stays FAILED and launches nothing.
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-failure-detection.html
* Service deployments (ListServiceDeployments, DescribeServiceDeployments,
  StopServiceDeployment) and Service.currentServiceDeployment.  A rollback creates no new
  service revision: the failed service deployment goes ROLLBACK_IN_PROGRESS ->
  ROLLBACK_SUCCESSFUL with `rollback` set.
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-revision.html
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html
* deploymentConfiguration.strategy BLUE_GREEN with bakeTimeInMinutes and lifecycle stages.
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html
* Deployment alarms (deploymentConfiguration.alarms), read from moto's CloudWatch backend.
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html
* CODE_DEPLOY / EXTERNAL controllers refuse a task definition change in UpdateService.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html

Per-service switches are service tags read at call time (CreateService tags or TagResource):
sandbox.steady, sandbox.stale-reads=N, sandbox.image-digest=absent,
sandbox.service-deployments=denied, sandbox.minute=SECONDS.  See sandbox/README.md.

Time moves the rollout: the state is advanced step by step from stored timestamps, on every
call and by a background ticker, so the timeline does not depend on how often clients poll.
One step is SANDBOX_STEP seconds (default 1).  A task's fate comes from its containers, run
for real by tasks.py (pulled, started, health-checked, exited); the docker label
"sandbox.scenario" on the first container is read only for what a container cannot express:
`stuck` (no container instance to place the task on) and `flaky` (which tasks of a deployment
crash).

All simulation state hangs off the moto backend object, so POST /moto-api/reset (which
re-initialises every backend) clears it.  One lock guards everything; the serializer only
ever sees fresh snapshot objects.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import lb as lbmod
from tasks import RUNNER

LOCK = threading.RLock()
_tls = threading.local()

SCENARIOS = ("healthy", "slow", "crashloop", "unhealthy", "stuck", "flaky")
# Only `stuck` (no container instance to place a task on) and `flaky` (which of a deployment's
# tasks crash: an order across tasks that one container cannot know) are read by the model; the
# others are what the task's containers do (the example app reads SANDBOX_SCENARIO).
# flaky: of a deployment's tasks, the 1st and 2nd exit 1 at once, the 4th and 5th exit 1 after
# FLAKY_LATE_CRASH seconds without ever passing a health check, the others run healthy: with a
# health check interval of 5 s, failedTasks reaches 2, resets when the 3rd task turns healthy
# (resetOnHealthyTask), reaches 2 again: a breaker with threshold 3 trips only if the count never
# resets.  The crashing tasks run the same image with SANDBOX_SCENARIO=crashloop (and
# APP_CRASH_AFTER) added to their environment.
FLAKY_CRASHES = {0: 0, 1: 0, 3: 8, 4: 8}
# Sandbox-only: a steady service that no API call has named for IDLE seconds has its tasks'
# containers removed (the tasks stay RUNNING in ECS); the next call naming it, or a request to
# its load balancer, starts them again.  It bounds the containers (and health checks) a long
# test run keeps alive.
IDLE = float(os.environ.get("SANDBOX_IDLE", "90"))
ALL_SIMS: list["ServiceSim"] = []
MAX_EVENTS = 100
MAX_STOPPED_TASKS = 200
STEADY_TAG = "sandbox.steady"  # CreateService tag: start already steady (used by seeding)
STALE_TAG = "sandbox.stale-reads"
DIGEST_TAG = "sandbox.image-digest"
SD_DENY_TAG = "sandbox.service-deployments"
MINUTE_TAG = "sandbox.minute"
BG_STAGES = [
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
]
ONGOING_SD = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")


def step_seconds() -> float:
    try:
        v = float(os.environ.get("SANDBOX_STEP", "1"))
        return v if v > 0 else 1.0
    except ValueError:
        return 1.0


def _dt(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc)


def _deployment_id() -> str:
    # Real ids look like ecs-svc/1234567890123456789 (19 digits).
    return "ecs-svc/" + str(random.randint(10**18, 10**19 - 1))


def _sd_id() -> str:
    # Shaped like the ids in the API reference examples, e.g. NCWGC2ZR-taawPAYrIaU5.
    up = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    al = up + "abcdefghijklmnopqrstuvwxyz"
    return "".join(random.choice(up) for _ in range(8)) + "-" + "".join(random.choice(al) for _ in range(12))


def _epoch(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.timestamp()
    try:
        return float(v)
    except (TypeError, ValueError):
        return datetime.fromisoformat(str(v)).timestamp()


class SimTask:
    """A task of a simulated service (plain object: not a moto BaseModel)."""

    def __init__(self, sim: "ServiceSim", dep: "SimDeployment", t: float):
        self.id = uuid.uuid4().hex
        self.sim = sim
        self.dep = dep
        self.arn = f"arn:aws:ecs:{sim.region}:{sim.account}:task/{sim.cluster_name}/{self.id}"
        self.state = "PENDING"  # PENDING -> RUNNING -> STOPPED
        self.health = "UNKNOWN"
        self.created_at = t
        self.started_at: float | None = None
        self.stopping_at: float | None = None
        self.stopped_at: float | None = None
        self.stopped_reason: str | None = None
        self.stop_code: str | None = None
        self.exit_code: int | None = None
        self.unhealthy_since: float | None = None
        self.run: Any = None  # tasks.TaskRun: the containers, as the agent reports them

    def facts(self) -> dict[str, Any] | None:
        return None if self.run is None else self.run.state()

    @property
    def desired_status(self) -> str:
        return "STOPPED" if self.state == "STOPPED" else "RUNNING"

    def stop(self, t: float, reason: str, code: str, exit_code: int | None = None) -> None:
        self.state = "STOPPED"
        self.stopping_at = t
        self.stopped_at = t
        self.stopped_reason = reason
        self.stop_code = code
        self.exit_code = exit_code
        if self.health == "HEALTHY":
            self.health = "UNKNOWN"
        RUNNER.stop(self.id)  # deregister, then stop its containers (off the request thread)

    def view(self) -> "TaskView":
        dep = self.dep
        containers = []
        runs = self.run.containers if self.run is not None else []
        any_check = any(cd.get("healthCheck") for cd in dep.container_defs)
        for i, cd in enumerate(dep.container_defs):
            image = cd.get("image", "")
            cr = runs[i] if i < len(runs) else None
            cstatus = self.state if self.state != "PENDING" else "PENDING"
            if cr is not None and self.state == "RUNNING":
                cstatus = cr.status
            c: dict[str, Any] = {
                "containerArn": f"arn:aws:ecs:{self.sim.region}:{self.sim.account}:container/{self.sim.cluster_name}/{self.id}/{uuid.UUID(int=(int(self.id, 16) + i) % (1 << 128))}",
                "taskArn": self.arn,
                "name": cd.get("name", f"container-{i}"),
                "image": image,
                "lastStatus": cstatus,
                "healthStatus": (cr.health if cr is not None and self.state == "RUNNING" else "UNKNOWN") if cd.get("healthCheck") else "UNKNOWN",
                "essential": cd.get("essential", True) is not False,
            }
            if cr is not None and self.state == "RUNNING" and cd.get("healthCheck") and self.health == "HEALTHY" and cr.health == "UNKNOWN":
                c["healthStatus"] = "HEALTHY"  # a seeded (already steady) task before its first probe
            digest = (cr.digest if cr is not None and cr.digest else None) or dep.image_digests[i]
            if digest and str(self.sim.tag(DIGEST_TAG, "")).lower() != "absent":
                c["imageDigest"] = digest
            exit_code = cr.exit_code if cr is not None and cr.status == "STOPPED" else None
            if exit_code is None and i == 0:
                exit_code = self.exit_code
            if self.state == "STOPPED" and exit_code is not None:
                c["exitCode"] = exit_code
                if self.stop_code == "EssentialContainerExited" and c["essential"]:
                    c["reason"] = "Essential container in task exited"
            if self.stop_code == "TaskFailedToStart" and self.stopped_reason and i == 0:
                c["reason"] = self.stopped_reason
            if cr is not None and cr.bindings and self.state != "PENDING":
                c["networkBindings"] = [dict(b) for b in cr.bindings]
            if self.state != "PENDING":
                c["runtimeId"] = (cr.runtime_id if cr is not None and cr.runtime_id else f"{self.id}-{i}")
            containers.append(c)
        v: dict[str, Any] = {
            "taskArn": self.arn,
            "clusterArn": self.sim.cluster_arn,
            "taskDefinitionArn": dep.task_definition,
            "lastStatus": self.state,
            "desiredStatus": self.desired_status,
            # Without any container health check ECS reports UNKNOWN (the model still counts a
            # running task as healthy for the rollout).
            "healthStatus": self.health if any_check else "UNKNOWN",
            "startedBy": dep.id,
            "group": f"service:{self.sim.name}",
            "launchType": self.sim.launch_type,
            "availabilityZone": f"{self.sim.region}a",
            "connectivity": "CONNECTED" if self.state != "PENDING" else None,
            "createdAt": _dt(self.created_at),
            "pullStartedAt": _dt(self.created_at),
            "startedAt": _dt(self.started_at),
            "stoppingAt": _dt(self.stopping_at),
            "stoppedAt": _dt(self.stopped_at),
            "executionStoppedAt": _dt(self.stopped_at),
            "stoppedReason": self.stopped_reason,
            "stopCode": self.stop_code,
            "containers": containers,
            "version": 1 + (self.state != "PENDING") + (self.state == "STOPPED"),
            "tags": [],
            "overrides": {"containerOverrides": [{"name": c["name"]} for c in containers]},
        }
        return TaskView({k: val for k, val in v.items() if val is not None})


class TaskView(dict):
    """A camelCase snapshot of a task; `task_arn` for moto's ListTasks response."""

    @property
    def task_arn(self) -> str:
        return self["taskArn"]


class SimDeployment:
    def __init__(self, sim: "ServiceSim", task_def: Any, t: float, desired: int):
        self.id = _deployment_id()
        self.sim = sim
        self.task_definition = task_def.arn
        self.container_defs = [dict(cd) for cd in task_def.container_definitions]
        labels = (self.container_defs[0].get("dockerLabels") or {}) if self.container_defs else {}
        sc = str(labels.get("sandbox.scenario", "healthy")).strip().lower()
        self.scenario = sc if sc in SCENARIOS else "healthy"
        self.image_digests = [sim.resolve_digest(cd.get("image", "")) for cd in self.container_defs]
        self.status = "PRIMARY"
        self.rollout_state = "IN_PROGRESS"
        self.rollout_reason = f"ECS deployment {self.id} in progress."
        self.created_at = t
        self.updated_at = t
        self.desired = desired
        self.failed_tasks = 0
        self.tasks: list[SimTask] = []
        dc = sim.deployment_configuration
        self.strategy = str(dc.get("strategy") or "ROLLING").upper()
        self.bake_minutes = float(dc.get("bakeTimeInMinutes") or 0)
        self.bg_stage: str | None = None
        self.bake_until: float | None = None
        self.give_up = False  # FAILED without rollback, or aborted: launch nothing more
        self.sd: "SvcDeployment | None" = None
        self.role = "target"  # or "rollback"
        self.revision_arn = ""

    def live(self) -> list[SimTask]:
        return [x for x in self.tasks if x.state != "STOPPED"]

    def running(self) -> list[SimTask]:
        return [x for x in self.tasks if x.state == "RUNNING"]

    def pending(self) -> list[SimTask]:
        return [x for x in self.tasks if x.state == "PENDING"]

    def view(self) -> dict[str, Any]:
        running = len(self.running())
        pending = len(self.pending())
        if self.status == "PRIMARY" and self.rollout_state == "IN_PROGRESS":
            # A fresh deployment reports pending = desired (the tasks it still has to place).
            pending = max(pending, self.desired - running)
        sim = self.sim
        d: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "taskDefinition": self.task_definition,
            "desiredCount": self.desired,
            "pendingCount": pending,
            "runningCount": running,
            "failedTasks": self.failed_tasks,
            "createdAt": _dt(self.created_at),
            "updatedAt": _dt(self.updated_at),
            "launchType": sim.launch_type,
            "rolloutState": self.rollout_state,
            "rolloutStateReason": self.rollout_reason,
        }
        if sim.platform_version:
            d["platformVersion"] = sim.platform_version
        if sim.network_configuration:
            d["networkConfiguration"] = sim.network_configuration
        return d


class SvcDeployment:
    """A service deployment (API_ServiceDeployment): one per CreateService / UpdateService that
    starts a deployment.  A rollback reuses the failed one (no new service revision)."""

    def __init__(self, sim: "ServiceSim", t: float, target: SimDeployment, sources: list[SimDeployment]):
        self.sim = sim
        self.id = _sd_id()
        self.arn = f"arn:aws:ecs:{sim.region}:{sim.account}:service-deployment/{sim.cluster_name}/{sim.name}/{self.id}"
        self.created_at = t
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.stopped_at: float | None = None
        self.updated_at = t
        self.status = "PENDING"
        self.status_reason: str | None = None
        self.lifecycle_stage: str | None = None
        self.target = target
        self.sources = list(sources)
        self.deployment_configuration = _deep(sim.deployment_configuration)
        self.rollback: dict[str, Any] | None = None
        self.rollback_dep: SimDeployment | None = None
        self.cb_triggered = False
        self.triggered_alarms: list[str] = []
        self.stop_type: str | None = None

    def set_status(self, t: float, status: str, reason: str | None = None) -> None:
        self.status = status
        self.updated_at = t
        if reason is not None:
            self.status_reason = reason
        if status not in ONGOING_SD and self.finished_at is None:
            self.finished_at = t
        if status == "STOPPED" and self.stopped_at is None:
            self.stopped_at = t

    @staticmethod
    def _summary(dep: SimDeployment, arn: str) -> dict[str, Any]:
        return {
            "arn": arn,
            "requestedTaskCount": dep.desired,
            "runningTaskCount": len(dep.running()),
            "pendingTaskCount": len(dep.pending()),
        }

    def view(self) -> dict[str, Any]:
        sim = self.sim
        done = self.status not in ONGOING_SD
        v: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": sim.service.arn,
            "clusterArn": sim.cluster_arn,
            "createdAt": _dt(self.created_at),
            "startedAt": _dt(self.started_at),
            "finishedAt": _dt(self.finished_at),
            "stoppedAt": _dt(self.stopped_at),
            "updatedAt": _dt(self.updated_at),
            "sourceServiceRevisions": [self._summary(d, d.revision_arn) for d in self.sources],
            "targetServiceRevision": self._summary(self.target, self.target.revision_arn),
            "status": self.status,
            "statusReason": self.status_reason,
            "lifecycleStage": self.lifecycle_stage,
            "deploymentConfiguration": _deep(self.deployment_configuration),
        }
        if self.rollback is not None:
            v["rollback"] = dict(self.rollback, startedAt=_dt(self.rollback["startedAt"]))
        cb = self.deployment_configuration.get("deploymentCircuitBreaker") or {}
        if cb.get("enable"):
            st = "TRIGGERED" if self.cb_triggered else ("MONITORING_COMPLETE" if done else "MONITORING")
            v["deploymentCircuitBreaker"] = {"status": st, "failureCount": self.target.failed_tasks, "threshold": sim.threshold()}
        else:
            v["deploymentCircuitBreaker"] = {"status": "DISABLED", "failureCount": 0, "threshold": sim.threshold()}
        al = self.deployment_configuration.get("alarms") or {}
        if al.get("enable"):
            st = "TRIGGERED" if self.triggered_alarms else ("MONITORING_COMPLETE" if done else "MONITORING")
            v["alarms"] = {"status": st, "alarmNames": list(al.get("alarmNames") or []), "triggeredAlarmNames": list(self.triggered_alarms)}
        else:
            v["alarms"] = {"status": "DISABLED"}
        return {k: x for k, x in v.items() if x is not None}


def brief(view: dict[str, Any]) -> dict[str, Any]:
    """ServiceDeploymentBrief (ListServiceDeployments) from a full ServiceDeployment view."""
    b = {k: view.get(k) for k in ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt", "finishedAt", "status", "statusReason")}
    b["targetServiceRevisionArn"] = view["targetServiceRevision"]["arn"]
    return {k: x for k, x in b.items() if x is not None}


class ServiceSim:
    def __init__(self, backend: Any, service: Any, deployment_configuration: dict | None, t: float):
        self.backend = backend
        self.service = service
        self.name = service.name
        self.cluster_name = service.cluster_name
        self.cluster_arn = service.cluster_arn
        self.region = backend.region_name
        self.account = backend.account_id
        self.launch_type = service.launch_type or "EC2"
        self.platform_version = getattr(service, "platform_version", None)
        self.network_configuration = getattr(service, "network_configuration", None) or None
        self.created_at = t
        dc = dict(deployment_configuration or {})
        dc.setdefault("maximumPercent", 200)
        dc.setdefault("minimumHealthyPercent", 100)
        dc.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
        self.deployment_configuration = dc
        self.desired = int(service.desired_count or 0)
        self.deployments: list[SimDeployment] = []
        self.sds: list[SvcDeployment] = []  # newest first
        self.events: list[dict[str, Any]] = []
        self.stopped: list[SimTask] = []
        self.last_completed: SimDeployment | None = None
        self.deleted = False
        self.next_step_at = t + self.step_len()
        self._steady_pending = False
        self.stale: dict[str, Any] | None = None
        # A load balancer for every service (a loadBalancers entry names the container and port
        # it routes to; without one, the first container's first port mapping).
        self.lb_key: tuple[str, str] | None = None
        if RUNNER.lb:
            self.lb_key = (self.cluster_name, self.name)
            lbmod.ensure(self.lb_key)
        self.last_call = t
        self.hibernated = False
        if self.lb_key:
            lbmod.ensure(self.lb_key).waker = self._wake_from_lb
        ALL_SIMS.append(self)

    # ---- helpers -------------------------------------------------------------------
    @property
    def primary(self) -> SimDeployment | None:
        return self.deployments[0] if self.deployments else None

    def tag(self, key: str, default: Any = None) -> Any:
        for tg in self.service.tags or []:
            if tg.get("key") == key:
                return tg.get("value")
        return default

    def tag_num(self, key: str, default: float) -> float:
        try:
            return float(self.tag(key, default))
        except (TypeError, ValueError):
            return default

    def minute(self) -> float:
        """Real seconds in one "minute" of bakeTimeInMinutes (sandbox.minute, default 60)."""
        v = self.tag_num(MINUTE_TAG, 60.0)
        return v if v >= 0 else 60.0

    def step_len(self) -> float:
        return step_seconds()

    def lb_target(self, dep: SimDeployment) -> tuple[str, int] | None:
        for entry in getattr(self.service, "load_balancers", None) or []:
            name, port = entry.get("containerName"), entry.get("containerPort")
            if name and port:
                return str(name), int(port)
        for cd in dep.container_defs:
            for pm in cd.get("portMappings") or []:
                if pm.get("containerPort"):
                    return str(cd.get("name")), int(pm["containerPort"])
        return None

    def run_task(self, task: SimTask, env_override: dict[str, str] | None = None) -> None:
        """Hand the task to the container runner (tasks.py): it pulls, starts and watches."""
        dep = task.dep
        family, revision = dep.task_definition.rsplit("/", 1)[1].rsplit(":", 1)
        task.run = RUNNER.launch({
            "id": task.id, "arn": task.arn, "cluster": self.cluster_name, "family": family,
            "revision": revision, "region": self.region, "account": self.account,
            "containers": [_deep(cd) for cd in dep.container_defs],
            "lb_key": self.lb_key, "lb_target": self.lb_target(dep), "env_override": env_override,
        })

    def _flaky_env(self, dep: SimDeployment) -> dict[str, str] | None:
        if dep.scenario != "flaky":
            return None
        n = getattr(dep, "flaky_started", 0)
        dep.flaky_started = n + 1
        if n in FLAKY_CRASHES:
            return {"SANDBOX_SCENARIO": "crashloop", "APP_CRASH_AFTER": str(FLAKY_CRASHES[n])}
        return {"SANDBOX_SCENARIO": "healthy"}

    def resolve_digest(self, image: str) -> str | None:
        if "@sha256:" in image:
            return "sha256:" + image.split("@sha256:", 1)[1]
        # repo:tag -> the digest moto's ECR recorded for that tag (if any)
        try:
            from moto.ecr.models import ecr_backends

            last = image.rsplit("/", 1)[-1]
            repo_path = image.split("/", 1)[1] if "/" in image else image
            if ":" in last:
                repo_name, tag = repo_path.rsplit(":", 1)
            else:
                repo_name, tag = repo_path, "latest"
            ecr = ecr_backends[self.account][self.region]
            repo = ecr.repositories.get(repo_name)
            if repo is None:
                return None
            for img in repo.images:
                if tag in (img.image_tags or []):
                    return img.get_image_digest()
        except Exception:
            return None
        return None

    def event(self, t: float, msg: str) -> None:
        self.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": t, "message": f"(service {self.name}) {msg}"})
        del self.events[MAX_EVENTS:]

    def threshold(self) -> int:
        return min(max(math.ceil(0.5 * max(self.desired, 0)), 3), 200)

    def breaker(self) -> tuple[bool, bool]:
        cb = self.deployment_configuration.get("deploymentCircuitBreaker") or {}
        return bool(cb.get("enable")), bool(cb.get("rollback"))

    def reset_on_healthy(self) -> bool:
        cb = self.deployment_configuration.get("deploymentCircuitBreaker") or {}
        v = cb.get("resetOnHealthyTask")
        return True if v is None else bool(v)

    def alarm_config(self) -> tuple[bool, bool, list[str]]:
        al = self.deployment_configuration.get("alarms") or {}
        return bool(al.get("enable")), bool(al.get("rollback")), list(al.get("alarmNames") or [])

    def _cw_alarms(self, names: list[str]) -> list[Any]:
        try:
            from moto.cloudwatch.models import cloudwatch_backends

            cw = cloudwatch_backends[self.account][self.region]
            return [a for a in cw.alarms.values() if a.name in names]
        except Exception:
            return []

    def alarms_in_alarm(self) -> list[str]:
        enable, _, names = self.alarm_config()
        if not enable or not names:
            return []
        return sorted(a.name for a in self._cw_alarms(names) if a.state_value == "ALARM")

    def alarm_bake_seconds(self) -> float:
        """Bake time of a rolling deployment with alarms: ECS computes it from the alarm
        configuration; here the longest Period * EvaluationPeriods of the named alarms, in
        sandbox minutes (seconds * sandbox.minute / 60)."""
        enable, _, names = self.alarm_config()
        if not enable or not names:
            return 0.0
        secs = [float(a.period or 60) * float(a.evaluation_periods or 1) for a in self._cw_alarms(names)]
        return (max(secs) if secs else 60.0) * self.minute() / 60.0

    def all_tasks(self) -> list[SimTask]:
        out: list[SimTask] = []
        for d in self.deployments:
            out.extend(d.tasks)
        seen = {id(x) for x in out}
        out.extend(x for x in self.stopped if id(x) not in seen)
        return out

    def _retire(self, task: SimTask) -> None:
        if task not in self.stopped:
            self.stopped.append(task)
            del self.stopped[:-MAX_STOPPED_TASKS]

    def _revision_arn(self) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:service-revision/{self.cluster_name}/{self.name}/{random.randint(10**18, 10**19 - 1)}"

    # ---- mutations -----------------------------------------------------------------
    def new_deployment(self, task_def: Any, t: float, rollback_of: SvcDeployment | None = None, revision_arn: str | None = None) -> SimDeployment:
        """A deployment (API_Deployment).  Without rollback_of it also starts a new service
        deployment on a new service revision; a rollback reuses the failed service deployment
        and the last successful revision (service-revision.html: no new revision on rollback)."""
        sources = [d for d in self.deployments if d.live()] or self.deployments[:1]
        dep = SimDeployment(self, task_def, t, self.desired)
        for old in self.deployments:
            if old.status == "PRIMARY":
                old.status = "ACTIVE"
                old.updated_at = t
        self.deployments.insert(0, dep)
        if rollback_of is None:
            for old_sd in self.sds:
                if old_sd.status in ONGOING_SD:
                    old_sd.set_status(t, "STOPPED", "Superseded by a newer service deployment.")
            dep.revision_arn = self._revision_arn()
            sd = SvcDeployment(self, t, dep, sources)
            self.sds.insert(0, sd)
            dep.sd = sd
        else:
            dep.role = "rollback"
            dep.strategy = "ROLLING"
            dep.revision_arn = revision_arn or ""
            dep.sd = rollback_of
            rollback_of.rollback_dep = dep
        self.next_step_at = t + self.step_len()
        return dep

    def start_steady(self, t: float) -> None:
        """Seeding shortcut: the primary deployment is already COMPLETED with desired tasks."""
        dep = self.primary
        if dep is None:
            return
        for _ in range(self.desired):
            task = SimTask(self, dep, t)
            task.state = "RUNNING"
            task.started_at = t
            task.health = "HEALTHY"
            dep.tasks.append(task)
            self.run_task(task)  # its containers start now (sandbox shortcut: RUNNING already)
        if dep.sd is not None:
            dep.sd.started_at = t
        self._complete(dep, t, quiet=True)

    def set_desired(self, n: int, t: float) -> None:
        self.desired = n
        if self.primary is not None:
            self.primary.desired = n
            self.primary.updated_at = t
        self.next_step_at = min(self.next_step_at, t + self.step_len())

    def delete(self, t: float) -> None:
        for d in self.deployments:
            for task in d.live():
                task.stop(t, f"Scaling activity initiated by (deployment {d.id})", "ServiceSchedulerInitiated")
                self._retire(task)
        self.deployments = []
        self.desired = 0
        self.deleted = True
        if self.lb_key:
            lbmod.close(self.lb_key)

    def _complete(self, dep: SimDeployment, t: float, quiet: bool = False) -> None:
        for d in self.deployments:
            if d is not dep:
                for task in d.tasks:
                    self._retire(task)
        self.deployments = [dep]
        dep.status = "PRIMARY"
        dep.rollout_state = "COMPLETED"
        dep.rollout_reason = f"ECS deployment {dep.id} completed."
        dep.updated_at = t
        self.last_completed = dep
        sd = dep.sd
        if sd is not None:
            if dep.role == "rollback":
                sd.set_status(t, "ROLLBACK_SUCCESSFUL")
            elif sd.status in ONGOING_SD:
                sd.set_status(t, "SUCCESSFUL")
            if dep.strategy == "BLUE_GREEN" and dep.role == "target":
                sd.lifecycle_stage = "CLEAN_UP"
        if not quiet:
            self.event(t, f"(deployment {dep.id}) deployment completed.")
            self.event(t, "has reached a steady state.")

    def fail(self, p: SimDeployment, t: float, kind: str, alarm_names: list[str] | None = None) -> SimDeployment:
        """The deployment failed (circuit breaker or alarms).  Returns the new primary."""
        sd = p.sd
        p.updated_at = t
        if kind == "breaker":
            p.rollout_state = "FAILED"
            p.rollout_reason = "ECS deployment circuit breaker: tasks failed to start."
            self.event(t, f"(deployment {p.id}) deployment failed: tasks failed to start.")
            rollback = self.breaker()[1]
            reason = "The circuit breaker initiated the rollback operation."
            if sd is not None:
                sd.cb_triggered = True
        else:
            names = ", ".join(alarm_names or [])
            p.rollout_state = "FAILED"
            p.rollout_reason = f"ECS deployment failed: alarm(s) {names} in ALARM state."
            self.event(t, f"(deployment {p.id}) deployment failed: alarm(s) {names} in ALARM state.")
            rollback = self.alarm_config()[1]
            reason = f"CloudWatch alarm(s) {names} initiated the rollback operation."
            if sd is not None:
                sd.triggered_alarms = list(alarm_names or [])
        target = self.last_completed
        if p.role == "rollback":
            # the rollback itself failed
            p.give_up = True
            if sd is not None:
                sd.set_status(t, "ROLLBACK_FAILED", p.rollout_reason)
            return p
        if rollback and target is not None and target is not p:
            self.event(t, f"rolling back to deployment {target.id}.")
            if sd is not None:
                sd.rollback = {"reason": reason, "startedAt": t, "serviceRevisionArn": target.revision_arn}
                sd.set_status(t, "ROLLBACK_IN_PROGRESS", p.rollout_reason)
            td = self.backend.describe_task_definition(target.task_definition)
            return self.new_deployment(td, t, rollback_of=sd, revision_arn=target.revision_arn)
        # No rollback (off, or no COMPLETED deployment to go back to): the deployment stays
        # FAILED and launches no new tasks.
        p.give_up = True
        if sd is not None:
            sd.set_status(t, "STOPPED", p.rollout_reason)
        return p

    def touch(self, now: float) -> None:
        """An API call named this service: wake it if it was hibernating."""
        self.last_call = now
        if self.hibernated:
            self.hibernated = False
            for d in self.deployments:
                for task in d.live():
                    if task.state == "RUNNING":
                        self.run_task(task)

    def _wake_from_lb(self) -> bool:
        with LOCK:
            if not self.hibernated or self.deleted:
                return False
            self.touch(time.time())
            return True

    def maybe_hibernate(self, now: float) -> None:
        if self.hibernated or self.deleted or IDLE <= 0 or now - self.last_call < IDLE:
            return
        p = self.primary
        if p is None or p.rollout_state != "COMPLETED" or not self.idle() or any(d.pending() for d in self.deployments):
            return
        self.hibernated = True
        for d in self.deployments:
            for task in d.live():
                RUNNER.hibernate(task.id)

    def advance(self, now: float, touch: bool = True) -> None:
        if self.deleted:
            return
        if touch:
            self.touch(now)
        n = 0
        while self.next_step_at <= now:
            if self.idle():
                # Nothing can change until the next API call: jump the clock.
                self.next_step_at = now + self.step_len()
                break
            t = self.next_step_at
            if n > 2000:  # a long-idle stuck service: skip ahead instead of replaying hours
                self.next_step_at = now
                t = now
            self.step(t)
            self.next_step_at = t + self.step_len()
            n += 1

    def idle(self) -> bool:
        p = self.primary
        if p is None:
            return True
        if any(self._news(x) for d in self.deployments for x in d.live()):
            return False  # the containers have something to report
        if any(sd.status in ("PENDING", "STOP_REQUESTED", "ROLLBACK_REQUESTED") for sd in self.sds):
            return False
        others_live = any(d.live() for d in self.deployments[1:])
        if others_live:
            return False
        if p.pending():
            return False
        if p.give_up:
            return True  # circuit breaker tripped without rollback: ECS gives up here
        if p.rollout_state == "IN_PROGRESS":
            return False
        if p.scenario == "stuck" and len(p.live()) < self.desired:
            return False
        healthy = [x for x in p.running() if x.health != "UNHEALTHY"]
        return len(healthy) == self.desired and len(p.running()) == self.desired and (
            p.rollout_state == "COMPLETED"
        ) and not self._steady_pending

    @staticmethod
    def _news(task: SimTask) -> bool:
        """Do the task's containers report something the model has not taken in yet?"""
        f = task.facts()
        if f is None:
            return False
        if task.state == "PENDING":
            return f["state"] != "PENDING"
        if task.state == "RUNNING":
            if f["state"] == "STOPPED" or f["health"] == "UNHEALTHY":
                return True
            return f["state"] == "RUNNING" and task.health != "HEALTHY" and (f["health"] == "HEALTHY" or not f.get("has_health"))
        return False

    def _launch(self, p: SimDeployment, t: float, n: int) -> bool:
        if n <= 0:
            return False
        if p.scenario == "stuck":
            self.event(
                t,
                "was unable to place a task because no container instance met all of its "
                "requirements. Reason: No Container Instances were found in your cluster. For more "
                "information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
            )
            return True
        started = []
        for _ in range(n):
            task = SimTask(self, p, t)
            p.tasks.append(task)
            started.append(task)
            self.run_task(task, self._flaky_env(p))
        p.updated_at = t
        self.event(t, f"has started {len(started)} tasks: " + " ".join(f"(task {x.id})" for x in started) + ".")
        return True

    def _stop_requests(self, t: float) -> bool:
        changed = False
        for sd in self.sds:
            if sd.status == "ROLLBACK_REQUESTED":
                target = self.last_completed
                p = sd.target
                if target is None or target is p:
                    p.give_up = True
                    sd.set_status(t, "ROLLBACK_FAILED", "No service revision in a COMPLETED deployment to roll back to.")
                else:
                    sd.rollback = {"reason": "A StopServiceDeployment request initiated the rollback operation.", "startedAt": t, "serviceRevisionArn": target.revision_arn}
                    sd.set_status(t, "ROLLBACK_IN_PROGRESS")
                    self.event(t, f"rolling back to deployment {target.id}.")
                    td = self.backend.describe_task_definition(target.task_definition)
                    self.new_deployment(td, t, rollback_of=sd, revision_arn=target.revision_arn)
                changed = True
            elif sd.status == "STOP_REQUESTED":
                sd.target.give_up = True
                sd.set_status(t, "STOPPED", "Stopped by a StopServiceDeployment request.")
                changed = True
        return changed

    def step(self, t: float) -> None:
        p = self.primary
        if p is None:
            return
        changed = False
        for sd in self.sds:
            if sd.status == "PENDING":
                sd.status = "IN_PROGRESS"
                sd.started_at = sd.updated_at = t
                if sd.target.strategy != "BLUE_GREEN":
                    sd.lifecycle_stage = "SCALE_UP"
        changed |= self._stop_requests(t)
        p = self.primary
        reset = self.reset_on_healthy()
        # 1. Task transitions: what the task's containers report (tasks.py), as the agent does.
        for d in self.deployments:
            for task in list(d.tasks):
                f = task.facts()
                if f is None or task.state == "STOPPED":
                    continue
                if task.state == "PENDING":
                    if f["state"] == "STOPPED":
                        if f["stop_code"] != "TaskFailedToStart":
                            task.started_at = t
                        task.stop(t, f["reason"], f["stop_code"], self._exit_code(task))
                        d.failed_tasks += 1
                        d.updated_at = t
                        self._retire(task)
                        changed = True
                    elif f["state"] == "RUNNING":
                        task.state = "RUNNING"
                        task.started_at = t
                        self._health(d, task, f, t, reset)
                        changed = True
                elif task.state == "RUNNING":
                    if f["state"] == "STOPPED":
                        task.stop(t, f["reason"], f["stop_code"], self._exit_code(task))
                        d.failed_tasks += 1
                        d.updated_at = t
                        self._retire(task)
                        self.event(t, f"has stopped 1 running tasks: (task {task.id}).")
                        changed = True
                    elif f["health"] == "UNHEALTHY":
                        # Stopped by the scheduler after failing its container health checks.
                        task.health = "UNHEALTHY"
                        task.unhealthy_since = t
                        task.stop(t, "Task failed container health checks", "ServiceSchedulerInitiated", 137)
                        d.failed_tasks += 1
                        d.updated_at = t
                        self._retire(task)
                        self.event(t, f"has stopped 1 running tasks: (task {task.id}).")
                        self.event(t, f"(task {task.id}) failed container health checks.")
                        changed = True
                    else:
                        changed |= self._health(d, task, f, t, reset)
        # 2. Failure detection: circuit breaker (deployment-circuit-breaker.html), then alarms
        #    (deployment-alarm-failure.html), while the primary deployment is IN_PROGRESS.
        enable, _ = self.breaker()
        if p.rollout_state == "IN_PROGRESS" and not p.give_up:
            if enable and p.failed_tasks >= self.threshold():
                p = self.fail(p, t, "breaker")
                changed = True
            else:
                firing = self.alarms_in_alarm() if p.role == "target" else []
                if firing:
                    p = self.fail(p, t, "alarm", firing)
                    changed = True
        if p.strategy == "BLUE_GREEN" and p.rollout_state == "IN_PROGRESS" and not p.give_up:
            changed |= self._step_blue_green(p, t)
            for d in self.deployments:
                d.tasks = [x for x in d.tasks if x.state != "STOPPED"]
            return
        # 3. Drain older deployments within minimumHealthyPercent.
        dc = self.deployment_configuration
        min_healthy = math.ceil(self.desired * int(dc.get("minimumHealthyPercent", 100)) / 100)
        max_total = math.floor(self.desired * int(dc.get("maximumPercent", 200)) / 100)
        max_total = max(max_total, min_healthy + 1, self.desired) if self.desired else 0
        stopped: list[SimTask] = []
        for d in self.deployments[1:]:
            for task in d.pending():
                task.stop(t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
                stopped.append(task)
        healthy_all = [x for d in self.deployments for x in d.running() if x.health == "HEALTHY"]
        can_stop = max(0, len(healthy_all) - min_healthy)
        # tasks of the primary beyond desired (scale-in) go first, then the oldest deployments'
        surplus = p.running()[self.desired:] + [x for x in p.pending()][: max(0, len(p.live()) - self.desired)]
        for task in surplus:
            if task.state == "PENDING" or can_stop > 0:
                if task.state == "RUNNING":
                    can_stop -= 1
                task.stop(t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
                stopped.append(task)
        for d in reversed(self.deployments[1:]):
            for task in d.running():
                if task.health != "HEALTHY":
                    task.stop(t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
                    stopped.append(task)
                elif can_stop > 0:
                    can_stop -= 1
                    task.stop(t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
                    stopped.append(task)
        if stopped:
            for task in stopped:
                task.dep.updated_at = t
                self._retire(task)
            ran = [x for x in stopped if x.started_at is not None]
            if ran:
                self.event(t, f"has stopped {len(ran)} running tasks: " + " ".join(f"(task {x.id})" for x in ran) + ".")
            changed = True
        for d in self.deployments:
            d.tasks = [x for x in d.tasks if x.state != "STOPPED"]
        # 4. Launch tasks of the primary within maximumPercent.
        live_total = sum(len(d.live()) for d in self.deployments)
        need = self.desired - len(p.live())
        room = max_total - live_total
        if need > 0 and not p.give_up:
            if p.scenario == "stuck" or room > 0:
                changed |= self._launch(p, t, min(need, max(room, 1)))
        # 5. Completion (after the alarm bake time, if alarms are on) / steady state.
        others_live = any(d.live() for d in self.deployments[1:])
        healthy_p = [x for x in p.running() if x.health == "HEALTHY"]
        if p.rollout_state == "IN_PROGRESS" and not others_live and len(healthy_p) == self.desired and len(p.live()) == self.desired:
            bake = self.alarm_bake_seconds() if p.role == "target" else 0.0
            if bake > 0 and p.bake_until is None:
                p.bake_until = t + bake
                if p.sd is not None:
                    p.sd.lifecycle_stage = "BAKE_TIME"
            elif bake <= 0 or t >= (p.bake_until or 0):
                self._complete(p, t)
                self._steady_pending = False
        elif p.rollout_state == "COMPLETED":
            if changed:
                self._steady_pending = True
            elif self._steady_pending and len(healthy_p) == self.desired and len(p.live()) == self.desired and not others_live:
                self.event(t, "has reached a steady state.")
                self._steady_pending = False

    @staticmethod
    def _exit_code(task: SimTask) -> int | None:
        run = task.run
        if run is None:
            return None
        for c in run.containers:
            if c.essential and c.status == "STOPPED" and c.exit_code is not None:
                return c.exit_code
        return None

    @staticmethod
    def _health(d: SimDeployment, task: SimTask, f: dict[str, Any], t: float, reset: bool) -> bool:
        """A running task turns HEALTHY when its health checks pass (or at once without any);
        resetOnHealthyTask (default true) then resets the deployment's failedTasks."""
        if task.health == "HEALTHY":
            return False
        if f["health"] == "HEALTHY" or not f.get("has_health"):
            task.health = "HEALTHY"
            if reset and d.failed_tasks:
                d.failed_tasks = 0
                d.updated_at = t
            return True
        return False

    def _step_blue_green(self, p: SimDeployment, t: float) -> bool:
        """One step of a BLUE_GREEN deployment: one lifecycle stage per step; SCALE_UP waits
        for the green tasks to be healthy, BAKE_TIME lasts bakeTimeInMinutes, CLEAN_UP stops
        the blue tasks (deployment-type-blue-green.html, blue-green-deployment-how-it-works)."""
        sd = p.sd
        blue_live = [d for d in self.deployments[1:] if d.live()]

        def stage(name: str) -> None:
            p.bg_stage = name
            if sd is not None:
                sd.lifecycle_stage = name
                sd.updated_at = t

        st = p.bg_stage
        if st is None:
            stage("RECONCILE_SERVICE" if len(blue_live) > 1 else "PRE_SCALE_UP")
            return True
        if st == "RECONCILE_SERVICE":
            stage("PRE_SCALE_UP")
            return True
        if st == "PRE_SCALE_UP":
            stage("SCALE_UP")
            self._launch(p, t, self.desired - len(p.live()))
            return True
        if st == "SCALE_UP":
            need = self.desired - len(p.live())
            if need > 0:
                return self._launch(p, t, need)
            healthy = [x for x in p.running() if x.health == "HEALTHY"]
            if len(healthy) == self.desired:
                stage("POST_SCALE_UP")
                return True
            return False
        i = BG_STAGES.index(st)
        if st == "POST_PRODUCTION_TRAFFIC_SHIFT":
            stage("BAKE_TIME")
            p.bake_until = t + p.bake_minutes * self.minute()
            return True
        if st == "BAKE_TIME":
            if t < (p.bake_until or 0):
                return False
            stage("CLEAN_UP")
            stopped = []
            for d in self.deployments[1:]:
                for task in d.live():
                    task.stop(t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
                    task.dep.updated_at = t
                    self._retire(task)
                    stopped.append(task)
            ran = [x for x in stopped if x.started_at is not None]
            if ran:
                self.event(t, f"has stopped {len(ran)} running tasks: " + " ".join(f"(task {x.id})" for x in ran) + ".")
            return True
        if st == "CLEAN_UP":
            self._complete(p, t)
            self._steady_pending = False
            return True
        stage(BG_STAGES[i + 1])
        return True

    # ---- snapshots -----------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        running = sum(len(d.running()) for d in self.deployments)
        pending = sum(len(d.pending()) for d in self.deployments)
        return running, pending

    def service_view(self, service: Any) -> SimpleNamespace:
        attrs = {k: v for k, v in vars(service).items() if not k.startswith("_")}
        snap = SimpleNamespace(**attrs)
        snap.arn = service.arn
        running, pending = self.counts()
        snap.desired_count = self.desired
        snap.running_count = running
        snap.pending_count = pending
        snap.status = "INACTIVE" if self.deleted else service.status
        p = self.primary
        if p is not None:
            snap.task_definition = p.task_definition
        snap.deployment_configuration = _deep(self.deployment_configuration)
        snap.deployments = [d.view() for d in self.deployments]
        snap.events = [dict(e, createdAt=_dt(e["createdAt"])) for e in self.events]
        snap.created_at = _dt(self.created_at)
        snap.tags = [dict(x) for x in (service.tags or [])]
        if self.sds:
            snap.current_service_deployment = self.sds[0].arn
        return snap

    def sd_views(self) -> list[dict[str, Any]]:
        return [sd.view() for sd in self.sds]

    def capture_stale(self, service: Any) -> None:
        """sandbox.stale-reads=N: remember the state just before an UpdateService; the next N
        reads of each kind answer with it (API reference, "Eventual consistency")."""
        n = int(self.tag_num(STALE_TAG, 0))
        if n <= 0:
            self.stale = None
            return
        self.stale = {"svc": self.service_view(service), "svc_left": n, "sds": self.sd_views(), "sd_left": n}

    def read_service(self, service: Any) -> Any:
        if self.stale and self.stale["svc_left"] > 0:
            self.stale["svc_left"] -= 1
            return self.stale["svc"]
        return self.service_view(service)

    def read_sds(self) -> list[dict[str, Any]]:
        if self.stale and self.stale["sd_left"] > 0:
            self.stale["sd_left"] -= 1
            return self.stale["sds"]
        return self.sd_views()


def _deep(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _deep(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_deep(v) for v in x]
    return x


# ---------------------------------------------------------------------------------------
# Patching moto
# ---------------------------------------------------------------------------------------


def _sims(backend: Any) -> dict[str, ServiceSim]:
    d = backend.__dict__.get("_sandbox_sims")
    if d is None:
        d = backend.__dict__["_sandbox_sims"] = {}
    return d


def _sim_for(backend: Any, service: Any) -> ServiceSim | None:
    return _sims(backend).get(f"{service.cluster_name}:{service.name}")


def _err(code: str, message: str) -> Exception:
    from moto.ecs.exceptions import ECSException

    return ECSException(code, message)


def _deny_if(sim: ServiceSim, op: str) -> None:
    """sandbox.service-deployments=denied: answer like an IAM principal without the action."""
    if str(sim.tag(SD_DENY_TAG, "")).lower() == "denied":
        raise _err(
            "AccessDeniedException",
            f"User: arn:aws:iam::{sim.account}:user/sandbox is not authorized to perform: ecs:{op} on resource: "
            f"{sim.service.arn} because no identity-based policy allows the ecs:{op} action",
        )


def _parse_sd_arn(arn: str) -> tuple[str, str, str] | None:
    try:
        res = arn.split(":", 5)[5]
        kind, cluster, service, sid = res.split("/")
        if kind != "service-deployment":
            return None
        return cluster, service, sid
    except (IndexError, ValueError):
        return None


def list_service_deployments(backend: Any, cluster: str, service: str, status: list[str] | None, created: dict | None, max_results: int | None, token: str | None) -> dict[str, Any]:
    with LOCK:
        svc = backend._get_service(cluster or "default", str(service).split("/")[-1])
        sim = _sim_for(backend, svc)
        if sim is None:
            return {"serviceDeployments": []}
        _deny_if(sim, "ListServiceDeployments")
        sim.advance(time.time())
        views = sim.read_sds()
        if status:
            views = [v for v in views if v["status"] in status]
        created = created or {}
        after, before = _epoch(created.get("after")), _epoch(created.get("before"))
        if after is not None:
            views = [v for v in views if v["createdAt"].timestamp() >= after]
        if before is not None:
            views = [v for v in views if v["createdAt"].timestamp() <= before]
        views = sorted(views, key=lambda v: v["createdAt"], reverse=True)  # newest first
        n = max(1, min(int(max_results or 20), 100))
        start = int(token) if token and str(token).isdigit() else 0
        page = views[start : start + n]
        out: dict[str, Any] = {"serviceDeployments": [brief(v) for v in page]}
        if start + n < len(views):
            out["nextToken"] = str(start + n)
        return out


def describe_service_deployments(backend: Any, arns: list[str]) -> dict[str, Any]:
    with LOCK:
        found, failures = [], []
        now = time.time()
        read: dict[int, list[dict[str, Any]]] = {}
        for arn in arns or []:
            parsed = _parse_sd_arn(arn)
            sim = None
            if parsed is not None:
                sim = _sims(backend).get(f"{parsed[0]}:{parsed[1]}")
            if sim is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            _deny_if(sim, "DescribeServiceDeployments")
            if id(sim) not in read:
                sim.advance(now)
                read[id(sim)] = sim.read_sds()
            match = [v for v in read[id(sim)] if v["serviceDeploymentArn"] == arn]
            if match:
                found.append(match[0])
            else:
                failures.append({"arn": arn, "reason": "MISSING"})
        return {"serviceDeployments": found, "failures": failures}


def stop_service_deployment(backend: Any, arn: str, stop_type: str | None) -> dict[str, Any]:
    with LOCK:
        parsed = _parse_sd_arn(arn or "")
        sim = _sims(backend).get(f"{parsed[0]}:{parsed[1]}") if parsed else None
        sd = None
        if sim is not None:
            _deny_if(sim, "StopServiceDeployment")
            sim.advance(time.time())
            sd = next((x for x in sim.sds if x.arn == arn), None)
        if sd is None:
            raise _err("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
        if sd.status not in ("PENDING", "IN_PROGRESS"):
            raise _err("ConflictException", f"The service deployment is in status {sd.status} and can't be stopped.")
        kind = (stop_type or "ROLLBACK").upper()
        sd.stop_type = kind
        sd.set_status(time.time(), "ROLLBACK_REQUESTED" if kind == "ROLLBACK" else "STOP_REQUESTED")
        sim.next_step_at = min(sim.next_step_at, time.time() + sim.step_len())
        return {"serviceDeploymentArn": sd.arn}


def _tick() -> None:
    """Advance every service now and then, as ECS's scheduler runs whether or not anybody asks:
    a crashed task is replaced, a healthy one registered, without a client polling."""
    while True:
        time.sleep(step_seconds() / 2)
        try:
            with LOCK:
                now = time.time()
                for sim in list(ALL_SIMS):
                    if not sim.deleted:
                        sim.advance(now, touch=False)
                        sim.maybe_hibernate(now)
        except Exception:
            pass


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.moto_api._internal import models as api_models

    orig_reset = api_models.MotoAPIBackend.reset

    def reset(self: Any) -> None:
        # POST /moto-api/reset: the world goes, and so do its containers and load balancers.
        with LOCK:
            ALL_SIMS.clear()
            RUNNER.reset()
            orig_reset(self)

    api_models.MotoAPIBackend.reset = reset
    threading.Thread(target=_tick, name="ecs-ticker", daemon=True).start()
    from moto.ecs import models as m
    from moto.ecs import responses as r
    from moto.ecs.exceptions import InvalidParameterException

    B = m.EC2ContainerServiceBackend
    R = r.EC2ContainerServiceResponse
    orig = {
        name: getattr(B, name)
        for name in ("create_service", "update_service", "describe_services", "list_tasks", "describe_tasks", "delete_service")
    }
    orig_resp_create = R.create_service

    def resp_create_service(self: Any) -> Any:
        # moto's response layer drops deploymentConfiguration: hand it over on the side.
        _tls.deployment_configuration = self._get_param("deploymentConfiguration")
        try:
            return orig_resp_create(self)
        finally:
            _tls.deployment_configuration = None

    def create_service(self: Any, cluster_str: str, service_name: str, desired_count: int, task_definition_str: str | None = None, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            service = orig["create_service"](self, cluster_str, service_name, desired_count, task_definition_str, *args, **kwargs)
            now = time.time()
            key = f"{service.cluster_name}:{service.name}"
            _sims(self).pop(key, None)
            controller = (service.deployment_controller or {}).get("type", "ECS")
            if not task_definition_str or controller != "ECS":
                dc = getattr(_tls, "deployment_configuration", None)
                if dc:
                    service.deployment_configuration = _deep(dc)
                return service
            sim = ServiceSim(self, service, getattr(_tls, "deployment_configuration", None), now)
            _sims(self)[key] = sim
            td = self.describe_task_definition(task_definition_str)
            sim.new_deployment(td, now)
            tags = {t.get("key"): t.get("value") for t in (service.tags or [])}
            if str(tags.get(STEADY_TAG, "")).lower() == "true":
                sim.start_steady(now)
            return sim.service_view(service)

    def update_service(self: Any, props: dict[str, Any]) -> Any:
        with LOCK:
            cluster_str = props.get("cluster", "default")
            service_name = str(props.get("service", "")).split("/")[-1]
            service = self._get_service(cluster_str, service_name)
            sim = _sim_for(self, service)
            controller = (service.deployment_controller or {}).get("type", "ECS")
            if controller in ("CODE_DEPLOY", "EXTERNAL") and props.get("task_definition"):
                td = self.describe_task_definition(props["task_definition"])
                if td.arn != service.task_definition:
                    if controller == "CODE_DEPLOY":
                        raise InvalidParameterException(
                            "Unable to update task definition on services with a CODE_DEPLOY deployment controller. "
                            "Use AWS CodeDeploy to trigger a new deployment."
                        )
                    raise InvalidParameterException(
                        "Unable to update task definition on services with a EXTERNAL deployment controller. "
                        "Use a task set to deploy a new task definition."
                    )
            if sim is None or sim.deleted:
                return orig["update_service"](self, props)
            now = time.time()
            sim.advance(now)
            sim.capture_stale(service)
            props = dict(props)
            props.pop("cluster", None)
            props.pop("service", None)
            td_str = props.pop("task_definition", None)
            force = bool(props.pop("force_new_deployment", False))
            desired = props.pop("desired_count", None)
            dc = props.pop("deployment_configuration", None)
            td = self.describe_task_definition(td_str) if td_str else None
            for k, v in props.items():
                if v is not None:
                    setattr(service, k, v)
            if dc:
                merged = _deep(sim.deployment_configuration)
                merged.update(dc)
                sim.deployment_configuration = merged
            if desired is not None:
                sim.set_desired(int(desired), now)
                service.desired_count = int(desired)
            p = sim.primary
            if td is not None and (p is None or td.arn != p.task_definition):
                sim.new_deployment(td, now)
            elif force and p is not None:
                sim.new_deployment(self.describe_task_definition(p.task_definition), now)
            if sim.primary is not None:
                service.task_definition = sim.primary.task_definition
            return sim.service_view(service)

    def describe_services(self: Any, cluster_str: str, names: list[str]) -> Any:
        with LOCK:
            result, failures = orig["describe_services"](self, cluster_str, names)
            now = time.time()
            out = []
            for s in result:
                sim = _sim_for(self, s)
                if sim is None:
                    out.append(s)
                else:
                    sim.advance(now)
                    out.append(sim.read_service(s))
            return out, failures

    def delete_service(self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
        with LOCK:
            service = orig["delete_service"](self, cluster_name, service_name, force)
            sim = _sim_for(self, service)
            if sim is None:
                return service
            sim.advance(time.time())
            sim.delete(time.time())
            return sim.service_view(service)

    def _advance_cluster(self: Any, cluster_name: str | None) -> list[ServiceSim]:
        now = time.time()
        sims = [s for s in _sims(self).values() if cluster_name is None or s.cluster_name == cluster_name]
        for s in sims:
            s.advance(now)
        return sims

    def list_tasks(self: Any, cluster_str: str | None = None, container_instance: str | None = None, family: str | None = None, started_by: str | None = None, service_name: str | None = None, desiredStatus: str | None = None) -> Any:
        with LOCK:
            cluster = self._get_cluster(cluster_str or "default")
            desired = desiredStatus or "RUNNING"  # AWS default filter
            base = [] if service_name else orig["list_tasks"](self, cluster.name, container_instance, family, started_by, None, desired)
            if container_instance:
                return base
            out = list(base)
            for sim in _advance_cluster(self, cluster.name):
                if service_name and service_name.split("/")[-1] != sim.name:
                    continue
                for task in sim.all_tasks():
                    if task.desired_status != desired:
                        continue
                    if started_by and task.dep.id != started_by:
                        continue
                    if family and task.dep.task_definition.split("/")[-1].rsplit(":", 1)[0] != family:
                        continue
                    out.append(task.view())
            return out

    def describe_tasks(self: Any, cluster_str: str, tasks: list[str]) -> Any:
        with LOCK:
            cluster = self._get_cluster(cluster_str)
            wanted = {t.split("/")[-1] for t in tasks}
            try:
                base = orig["describe_tasks"](self, cluster_str, tasks)
            except Exception:
                if not tasks:
                    raise
                base = []
            out = list(base)
            for sim in _advance_cluster(self, cluster.name):
                for task in sim.all_tasks():
                    if task.id in wanted or task.arn in tasks:
                        out.append(task.view())
            return out

    B.create_service = create_service
    B.update_service = update_service
    B.describe_services = describe_services
    B.delete_service = delete_service
    B.list_tasks = list_tasks
    B.describe_tasks = describe_tasks
    R.create_service = resp_create_service

    def resp_list_service_deployments(self: Any) -> Any:
        return ActionResult(
            list_service_deployments(
                self.ecs_backend, self._get_param("cluster", "default"), self._get_param("service"),
                self._get_param("status"), self._get_param("createdAt"), self._get_param("maxResults"),
                self._get_param("nextToken"),
            )
        )

    def resp_describe_service_deployments(self: Any) -> Any:
        return ActionResult(describe_service_deployments(self.ecs_backend, self._get_param("serviceDeploymentArns", [])))

    def resp_stop_service_deployment(self: Any) -> Any:
        return ActionResult(stop_service_deployment(self.ecs_backend, self._get_param("serviceDeploymentArn"), self._get_param("stopType")))

    R.list_service_deployments = resp_list_service_deployments
    R.describe_service_deployments = resp_describe_service_deployments
    R.stop_service_deployment = resp_stop_service_deployment
