"""Tasks are containers: the sandbox's stand-in for the ECS container agent.

When the rollout model (ecs_rollout.py) starts a task, `RUNNER.launch` runs the task
definition's containers in the sandbox's dockerd, off the request thread:

* the image is pulled by the reference the revision names (a digest when it pins one) from the
  sandbox registry, with the registry's credentials (the `auths` entry `docker login` wrote to
  $DOCKER_CONFIG/config.json: the user/password of moto's ECR token);
* command, entryPoint, environment, workingDirectory, user, and `secrets` resolved from moto's SSM
  (or Secrets Manager) the way ECS injects them: the value's bytes, a trailing newline included;
* every container runs with `--network host` (no bridge networks: only 127.0.0.1); each
  portMappings entry gets a host port from the sandbox (ECS's dynamic host port in bridge mode),
  handed to the app as PORT (the first mapping) and PORT_<containerPort> (each mapping), and
  reported in the task's networkBindings;
* the labels the ECS agent sets: com.amazonaws.ecs.cluster, .task-arn, .container-name,
  .task-definition-family, .task-definition-version (plus the definition's dockerLabels);
* healthCheck -> docker's HEALTHCHECK (command, interval, timeout, retries, startPeriod; the ECS
  defaults 30 s / 5 s / 3 / 0 when unset); linuxParameters.initProcessEnabled -> --init;
* logConfiguration awslogs -> the container's output lines copied into moto's CloudWatch Logs,
  group `awslogs-group`, stream `awslogs-stream-prefix/container-name/task-id`;
* stop: deregistered from the service's load balancer at once, then (after the deregistration
  delay) `docker stop` with the container's stopTimeout (ECS default 30 s); removed once its
  logs are copied.

A monitor thread lists the containers every POLL seconds and records what the agent would
report: running, exit code, docker health status, the repo digest pulled.  The model reads
those facts (`RUNNER.get(task_id)`) on its own steps.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from docker_api import Docker, DockerError

import lb as lbmod

MANAGED = "sandbox.managed"
POLL = 0.25
DEREGISTRATION_DELAY = float(os.environ.get("SANDBOX_DEREGISTRATION_DELAY", "1"))
LOG_FLUSH_WAIT = 3.0
NS = 1_000_000_000
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z ?(.*)$", re.S)


def _stamp(line: str) -> tuple[int, str]:
    """(epoch ms, message) of a `timestamps=true` docker log line."""
    m = _TS.match(line)
    if not m:
        return int(time.time() * 1000), line
    secs = datetime.fromisoformat(m.group(1) + "+00:00").timestamp()
    frac = float("0" + m.group(2)) if m.group(2) else 0.0
    return int((secs + frac) * 1000), m.group(3)


class CRun:
    """One container of a task, as the agent sees it."""

    def __init__(self, cd: dict[str, Any]):
        self.cd = cd
        self.name = cd.get("name") or "container"
        self.essential = cd.get("essential", True) is not False
        self.has_health = bool(cd.get("healthCheck"))
        self.cid: str | None = None
        self.status = "PENDING"  # PENDING -> RUNNING -> STOPPED
        self.health = "UNKNOWN"  # UNKNOWN (starting / no check), HEALTHY, UNHEALTHY
        self.exit_code: int | None = None
        self.digest: str | None = None
        self.bindings: list[dict[str, Any]] = []
        self.runtime_id: str | None = None
        self.logs_done = threading.Event()
        self.exited_at: float | None = None
        self.created_t: float = 0.0


class TaskRun:
    def __init__(self, spec: dict[str, Any]):
        self.id: str = spec["id"]
        self.arn: str = spec["arn"]
        self.cluster: str = spec["cluster"]
        self.family: str = spec["family"]
        self.revision: str = spec["revision"]
        self.region: str = spec["region"]
        self.account: str = spec["account"]
        self.lb_key: tuple[str, str] | None = spec.get("lb_key")
        self.lb_target: tuple[str, int] | None = spec.get("lb_target")  # containerName, containerPort
        self.env_override: dict[str, str] = spec.get("env_override") or {}
        self.containers = [CRun(cd) for cd in spec["containers"]]
        self.failed_reason: str | None = None  # the task never started (pull, secrets, create)
        self.stop_requested = False
        self.hibernated = False
        self.registered = False
        self.done = threading.Event()

    def container(self, name: str) -> CRun | None:
        return next((c for c in self.containers if c.name == name), None)

    # The agent's view of the task --------------------------------------------------
    def state(self) -> dict[str, Any]:
        """{"state": PENDING|RUNNING|STOPPED, "health", "reason", "stop_code"}."""
        if self.failed_reason:
            return {"state": "STOPPED", "health": "UNKNOWN", "reason": self.failed_reason, "stop_code": "TaskFailedToStart"}
        ess = [c for c in self.containers if c.essential]
        exited = [c for c in ess if c.status == "STOPPED" and c.exit_code is not None and self._logs_flushed(c)]
        if exited:
            return {"state": "STOPPED", "health": "UNKNOWN", "reason": "Essential container in task exited", "stop_code": "EssentialContainerExited"}
        if ess and all(c.status == "RUNNING" for c in ess):
            checked = [c for c in self.containers if c.has_health]
            if not checked:
                health = "UNKNOWN"
            elif any(c.health == "UNHEALTHY" for c in checked if c.essential):
                health = "UNHEALTHY"
            elif all(c.health == "HEALTHY" for c in checked):
                health = "HEALTHY"
            else:
                health = "UNKNOWN"
            return {"state": "RUNNING", "health": health, "has_health": bool(checked)}
        return {"state": "PENDING", "health": "UNKNOWN"}

    @staticmethod
    def _logs_flushed(c: CRun) -> bool:
        # The exit is reported once its output reached CloudWatch Logs (or after a short wait).
        return c.logs_done.is_set() or (c.exited_at is not None and time.time() - c.exited_at > LOG_FLUSH_WAIT)

    def serving(self) -> bool:
        s = self.state()
        return s["state"] == "RUNNING" and (s["health"] == "HEALTHY" or not s.get("has_health"))

    def lb_port(self) -> int | None:
        if not self.lb_target:
            return None
        c = self.container(self.lb_target[0])
        if c is None:
            return None
        for b in c.bindings:
            if b["containerPort"] == self.lb_target[1]:
                return b["hostPort"]
        return None


class Runner:
    lb = True  # a load balancer per service

    def __init__(self) -> None:
        self.runs: dict[str, TaskRun] = {}
        self.lock = threading.RLock()
        self.pool = ThreadPoolExecutor(max_workers=int(os.environ.get("SANDBOX_TASK_WORKERS", "8")), thread_name_prefix="task")
        self.docker: Docker | None = None
        self.ports_in_use: set[int] = set()
        self.pulled: dict[str, str | None] = {}
        self.pull_locks: dict[str, threading.Lock] = {}
        self.generation = 0
        self._monitor: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def _ensure(self) -> Docker:
        if self.docker is None:
            self.docker = Docker()
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._watch, name="task-monitor", daemon=True)
            self._monitor.start()
        return self.docker

    def launch(self, spec: dict[str, Any]) -> TaskRun:
        self._ensure()
        run = TaskRun(spec)
        with self.lock:
            self.runs[run.id] = run
        gen = self.generation
        self.pool.submit(self._start, run, gen)
        return run

    def get(self, task_id: str) -> TaskRun | None:
        return self.runs.get(task_id)

    def stop(self, task_id: str) -> None:
        run = self.runs.get(task_id)
        if run is None or run.stop_requested:
            return
        run.stop_requested = True
        was_registered = self._deregister(run)
        self.pool.submit(self._stop, run, DEREGISTRATION_DELAY if was_registered else 0.0)

    def hibernate(self, task_id: str) -> None:
        """An idle service's containers go (sandbox-only, see ecs_rollout.IDLE); the task's last
        facts stay as they were until the model starts its containers again (launch)."""
        run = self.runs.get(task_id)
        if run is None or run.stop_requested or run.hibernated or run.done.is_set():
            return
        run.hibernated = True
        self._deregister(run)
        self.pool.submit(self._remove_quietly, run)

    def _remove_quietly(self, run: TaskRun) -> None:
        d = self.docker or Docker()
        for c in run.containers:
            if c.cid:
                try:
                    d.remove(c.cid)
                except (OSError, DockerError):
                    pass
            with self.lock:
                for b in c.bindings:
                    self.ports_in_use.discard(b["hostPort"])

    def reset(self) -> None:
        """POST /moto-api/reset: every task container goes, every load balancer closes."""
        with self.lock:
            self.generation += 1
            runs = list(self.runs.values())
            self.runs.clear()
        for r in runs:
            r.stop_requested = True
        lbmod.close_all()
        if self.docker is not None:
            self.remove_all()

    def remove_all(self) -> None:
        d = self.docker or Docker()
        try:
            for c in d.list(MANAGED):
                d.remove(c["Id"])
        except (OSError, DockerError):
            pass

    # ---- start -------------------------------------------------------------------------
    def _start(self, run: TaskRun, gen: int) -> None:
        try:
            self._start_inner(run, gen)
        except Exception as e:  # never let a worker die silently
            if not run.failed_reason:
                run.failed_reason = f"CannotStartContainerError: {e}"
            self._cleanup(run)

    def _start_inner(self, run: TaskRun, gen: int) -> None:
        d = self._ensure()
        # 1. images (pulled once per reference), 2. secrets, 3. log streams: all before any
        #    container starts, as the agent resolves them in its PULLED / resources phase.
        for c in run.containers:
            image = c.cd.get("image", "")
            try:
                c.digest = self._pull(image)
            except DockerError as e:
                run.failed_reason = f"CannotPullContainerError: pull image manifest has been retried 1 time(s): {e.message}"
                return
        envs: dict[str, list[str]] = {}
        for c in run.containers:
            env = [f"{e['name']}={e.get('value', '')}" for e in c.cd.get("environment") or []]
            for s in c.cd.get("secrets") or []:
                value = self._secret(run, s.get("valueFrom", ""))
                if value is None:
                    run.failed_reason = (
                        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                        "retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 "
                        f"time(s): invalid ssm parameters: {s.get('valueFrom', '')}"
                    )
                    return
                env.append(f"{s['name']}={value}")
            envs[c.name] = env
        streams: dict[str, tuple[str, str, str, str] | None] = {}
        for c in run.containers:
            try:
                streams[c.name] = self._log_stream(run, c)
            except LookupError as e:
                run.failed_reason = f"CannotStartContainerError: Error response from daemon: failed to initialize logging driver: {e}"
                return
        if run.stop_requested or gen != self.generation:
            return
        for c in run.containers:
            ports = self._ports(c)
            c.bindings = [{"bindIP": "127.0.0.1", "containerPort": cp, "hostPort": hp, "protocol": proto} for cp, hp, proto in ports]
            env = list(envs[c.name])
            if ports:
                env.append(f"PORT={ports[0][1]}")
                env.extend(f"PORT_{cp}={hp}" for cp, hp, _ in ports)
            env.extend(f"{k}={v}" for k, v in run.env_override.items())
            config = self._config(run, c, env)
            name = f"ecs-{run.family}-{run.revision}-{re.sub(r'[^a-zA-Z0-9_.-]', '-', c.name)}-{uuid.uuid4().hex[:16]}"
            try:
                cid = d.create(name, config)
                c.created_t = time.time()
                c.cid = cid
            except DockerError as e:
                run.failed_reason = f"CannotCreateContainerError: Error response from daemon: {e.message}"
                self._cleanup(run)
                return
            c.runtime_id = c.cid
            try:
                d.start(c.cid)
            except DockerError as e:
                c.logs_done.set()
                run.failed_reason = f"CannotStartContainerError: Error response from daemon: {e.message}"
                self._cleanup(run)
                return
            # Following a created container's logs ends at once: follow from after start
            # (docker replays what it already wrote).
            if streams.get(c.name):
                threading.Thread(target=self._copy_logs, args=(run, c, streams[c.name]), name=f"logs-{c.name}", daemon=True).start()
            else:
                c.logs_done.set()
        if run.stop_requested:
            self.pool.submit(self._stop, run, 0.0)

    def _pull(self, image: str) -> str | None:
        """Pulls `image`; returns the repo digest docker recorded for it (RepoDigests)."""
        d = self._ensure()
        with self.lock:
            lk = self.pull_locks.setdefault(image, threading.Lock())
        with lk:
            if image in self.pulled and "@sha256:" in image:
                return self.pulled[image]
            server = image.split("/", 1)[0] if "/" in image else "docker.io"
            user, password = self._credentials(server)
            d.pull(image, user, password, server)
            repo = image.split("@", 1)[0]
            if ":" in repo.rsplit("/", 1)[-1]:
                repo = repo.rsplit(":", 1)[0]
            digest = None
            try:
                for rd in d.image(image).get("RepoDigests") or []:
                    if rd.split("@", 1)[0] == repo:
                        digest = rd.split("@", 1)[1]
            except DockerError:
                pass
            if digest is None and "@sha256:" in image:
                digest = "sha256:" + image.split("@sha256:", 1)[1]
            self.pulled[image] = digest
            return digest

    @staticmethod
    def _credentials(server: str) -> tuple[str | None, str | None]:
        """The registry's credentials: the `auths` entry `docker login` wrote (scripts/sandbox logs
        in with moto's ECR token), read at pull time."""
        path = os.path.join(os.environ.get("DOCKER_CONFIG", os.path.expanduser("~/.docker")), "config.json")
        try:
            with open(path) as f:
                auth = json.load(f).get("auths", {}).get(server, {}).get("auth")
        except (OSError, ValueError):
            auth = None
        if not auth:
            return None, None
        user, password = base64.b64decode(auth).decode().split(":", 1)
        return user, password

    @staticmethod
    def _secret(run: TaskRun, value_from: str) -> str | None:
        """The parameter's value exactly as stored (ECS injects the bytes, trailing newline included)."""
        try:
            if value_from.startswith("arn:aws:secretsmanager:"):
                from moto.secretsmanager.models import secretsmanager_backends

                region = value_from.split(":")[3] or run.region
                sm = secretsmanager_backends[run.account][region]
                return sm.get_secret_value(value_from, None, "AWSCURRENT")["SecretString"]
            from moto.ssm.models import ssm_backends

            region = run.region
            name = value_from
            if value_from.startswith("arn:aws:ssm:"):
                region = value_from.split(":")[3] or run.region
                name = value_from.split(":parameter", 1)[1]
            ssm = ssm_backends[run.account][region]
            p = ssm.get_parameter(name)
            if p is None and name.startswith("/") and name.count("/") == 1:
                p = ssm.get_parameter(name[1:])
            if p is None:
                return None
            return p.decrypt(p.value)
        except Exception:
            return None

    def _log_stream(self, run: TaskRun, c: CRun) -> tuple[str, str, str, str] | None:
        lc = c.cd.get("logConfiguration") or {}
        if lc.get("logDriver") != "awslogs":
            return None
        opts = lc.get("options") or {}
        group = opts.get("awslogs-group")
        if not group:
            raise LookupError("awslogs-group is required")
        region = opts.get("awslogs-region") or run.region
        prefix = opts.get("awslogs-stream-prefix")
        # ECS: prefix-name/container-name/ecs-task-id; without a prefix docker names the stream
        # after the container ID (known only after create: filled in by _copy_logs).
        stream = f"{prefix}/{c.name}/{run.id}" if prefix else ""
        from moto.logs.models import logs_backends

        logs = logs_backends[run.account][region]
        if group not in logs.groups:
            if str(opts.get("awslogs-create-group", "")).lower() == "true":
                try:
                    logs.create_log_group(group, {})
                except Exception:
                    pass  # created meanwhile
            else:
                raise LookupError("ResourceNotFoundException: The specified log group does not exist.")
        return run.account, region, group, stream

    def _ports(self, c: CRun) -> list[tuple[int, int, str]]:
        out = []
        for pm in c.cd.get("portMappings") or []:
            cp = int(pm.get("containerPort") or 0)
            hp = int(pm.get("hostPort") or 0) or self._free_port()
            out.append((cp, hp, pm.get("protocol") or "tcp"))
        return out

    def _free_port(self) -> int:
        with self.lock:
            for _ in range(100):
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                p = s.getsockname()[1]
                s.close()
                if p not in self.ports_in_use:
                    self.ports_in_use.add(p)
                    return p
        raise RuntimeError("no free port")

    @staticmethod
    def _config(run: TaskRun, c: CRun, env: list[str]) -> dict[str, Any]:
        cd = c.cd
        labels = {str(k): str(v) for k, v in (cd.get("dockerLabels") or {}).items()}
        labels.update({
            "com.amazonaws.ecs.cluster": run.cluster,
            "com.amazonaws.ecs.task-arn": run.arn,
            "com.amazonaws.ecs.container-name": c.name,
            "com.amazonaws.ecs.task-definition-family": run.family,
            "com.amazonaws.ecs.task-definition-version": run.revision,
            MANAGED: "true",
        })
        host: dict[str, Any] = {
            "NetworkMode": "host",
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
            "Init": bool((cd.get("linuxParameters") or {}).get("initProcessEnabled")),
        }
        config: dict[str, Any] = {"Image": cd.get("image"), "Env": env, "Labels": labels, "HostConfig": host}
        if cd.get("entryPoint"):
            config["Entrypoint"] = list(cd["entryPoint"])
        if cd.get("command"):
            config["Cmd"] = list(cd["command"])
        if cd.get("workingDirectory"):
            config["WorkingDir"] = cd["workingDirectory"]
        if cd.get("user"):
            config["User"] = cd["user"]
        hc = cd.get("healthCheck")
        if hc:
            # ECS defaults (API reference "HealthCheck"): interval 30, timeout 5, retries 3, startPeriod off.
            config["Healthcheck"] = {
                "Test": list(hc.get("command") or []),
                "Interval": int(hc.get("interval") or 30) * NS,
                "Timeout": int(hc.get("timeout") or 5) * NS,
                "Retries": int(hc.get("retries") or 3),
                "StartPeriod": int(hc.get("startPeriod") or 0) * NS,
            }
        config["StopTimeout"] = int(cd.get("stopTimeout") or 30)
        return config

    # ---- logs --------------------------------------------------------------------------
    def _copy_logs(self, run: TaskRun, c: CRun, where: tuple[str, str, str, str]) -> None:
        account, region, group, stream = where
        stream = stream or (c.cid or "")
        try:
            from moto.logs.models import logs_backends

            logs = logs_backends[account][region]
            try:
                logs.create_log_stream(group, stream)
            except Exception:
                pass  # exists
            last = 0
            assert c.cid
            for _, line in (self.docker or Docker()).follow_logs(c.cid):
                ts, msg = _stamp(line)
                ts = max(ts, last)
                last = ts
                try:
                    logs.put_log_events(group, stream, [{"timestamp": ts, "message": msg}])
                except Exception:
                    pass
        except Exception:
            pass
        finally:
            c.logs_done.set()

    # ---- monitor -----------------------------------------------------------------------
    def _watch(self) -> None:
        while True:
            time.sleep(POLL)
            try:
                self._poll()
            except Exception:
                pass

    def _poll(self) -> None:
        d = self.docker
        if d is None:
            return
        with self.lock:
            runs = [r for r in self.runs.values() if not r.done.is_set() and not r.hibernated]
        if not runs:
            return
        t_list = time.time()
        listed = {c["Id"]: c for c in d.list(MANAGED)}
        for run in runs:
            for c in run.containers:
                if c.cid is None or c.status == "STOPPED" or c.created_t >= t_list:
                    continue
                info = listed.get(c.cid)
                if info is None:
                    # removed behind our back: the agent would report it stopped
                    if c.exit_code is None:
                        c.exit_code = 137
                    c.status = "STOPPED"
                    c.exited_at = time.time()
                    continue
                st, text = info.get("State"), info.get("Status") or ""
                if st == "running":
                    c.status = "RUNNING"
                    if "(healthy)" in text:
                        c.health = "HEALTHY"
                    elif "(unhealthy)" in text:
                        c.health = "UNHEALTHY"
                    else:
                        c.health = "UNKNOWN"
                elif st in ("exited", "dead"):
                    m = re.search(r"Exited \((-?\d+)\)", text)
                    c.exit_code = int(m.group(1)) if m else self._exit_code(c.cid)
                    c.status = "STOPPED"
                    c.health = "UNKNOWN"
                    c.exited_at = time.time()
            self._after_poll(run)

    def _exit_code(self, cid: str) -> int:
        try:
            return int((self.docker or Docker()).inspect(cid)["State"]["ExitCode"])
        except Exception:
            return 137

    def _after_poll(self, run: TaskRun) -> None:
        st = run.state()
        if run.lb_key and not run.stop_requested:
            if run.serving() and not run.registered:
                port = run.lb_port()
                if port:
                    lbmod.register(run.lb_key, run.id, port)
                    run.registered = True
            elif run.registered and not run.serving():
                self._deregister(run)
        if st["state"] == "STOPPED" and not run.stop_requested:
            # An essential container exited: the agent stops the rest of the task.
            self.stop(run.id)

    def _deregister(self, run: TaskRun) -> bool:
        if run.registered and run.lb_key:
            lbmod.deregister(run.lb_key, run.id)
            run.registered = False
            return True
        return False

    # ---- stop --------------------------------------------------------------------------
    def _stop(self, run: TaskRun, delay: float) -> None:
        if delay > 0:
            time.sleep(delay)  # the target group's deregistration delay
        d = self.docker or Docker()
        for c in run.containers:
            if c.cid and c.status != "STOPPED":
                try:
                    d.stop(c.cid, int(c.cd.get("stopTimeout") or 30))
                except (OSError, DockerError):
                    pass
        self._cleanup(run)

    def _cleanup(self, run: TaskRun) -> None:
        d = self.docker or Docker()
        for c in run.containers:
            if c.cid:
                c.logs_done.wait(LOG_FLUSH_WAIT + 2)
                if c.status != "STOPPED":
                    try:
                        info = d.inspect(c.cid)["State"]
                        c.exit_code = int(info.get("ExitCode", 0))
                    except Exception:
                        c.exit_code = c.exit_code if c.exit_code is not None else 137
                    c.status = "STOPPED"
                    c.exited_at = time.time()
                try:
                    d.remove(c.cid)
                except (OSError, DockerError):
                    pass
            else:
                c.logs_done.set()
            with self.lock:
                for b in c.bindings:
                    self.ports_in_use.discard(b["hostPort"])
        run.done.set()


RUNNER = Runner()


class SimulatedRunner:
    """Tasks without containers, for the model's in-process unit tests only: a test must ask for
    it explicitly (monkeypatch ecs_rollout.RUNNER); every task runs at once, with no health check
    and no load balancer.  The sandbox server never uses it."""

    lb = False

    def __init__(self) -> None:
        self.runs: dict[str, TaskRun] = {}

    def launch(self, spec: dict[str, Any]) -> TaskRun:
        run = TaskRun(dict(spec, lb_key=None))
        for c in run.containers:
            c.status = "RUNNING"
            c.has_health = False
        self.runs[run.id] = run
        return run

    def get(self, task_id: str) -> TaskRun | None:
        return self.runs.get(task_id)

    def stop(self, task_id: str) -> None:
        run = self.runs.get(task_id)
        if run is not None:
            for c in run.containers:
                if c.status != "STOPPED":
                    c.status, c.exit_code = "STOPPED", 0
                    c.logs_done.set()
