"""scripts/sandbox itself: a second, isolated instance (SANDBOX_DIR) goes up idempotently,
resets to the seeded state, and `down` leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import time

import boto3
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "sandbox")


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def load_env(path: str) -> dict[str, str]:
    env = {}
    with open(path) as f:
        for line in f:
            k, v = line.strip().removeprefix("export ").split("=", 1)
            env[k] = v
    return env


@pytest.fixture
def second(tmp_path):
    state = str(tmp_path / "sbx")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKER_", "RELEASE_SANDBOX", "SANDBOX_"))}
    env.update(SANDBOX_DIR=state, SANDBOX_STEP="0.2")
    yield state, env
    subprocess.run([SCRIPT, "down"], env=env, capture_output=True)


def test_second_instance_up_reset_down(second):
    state, env = second
    t0 = time.time()
    out = subprocess.run([SCRIPT, "up"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == os.path.join(state, "env")
    e = load_env(os.path.join(state, "env"))
    assert e["AWS_ENDPOINT_URL"] != os.environ["AWS_ENDPOINT_URL"]
    assert e["SANDBOX_STEP"] == "0.2"
    up_time = time.time() - t0
    assert subprocess.run([SCRIPT, "status"], env=env, capture_output=True).returncode == 0

    # idempotent
    again = subprocess.run([SCRIPT, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already up" in again.stderr

    # reset returns to the seeded state
    ecs = boto3.client("ecs", endpoint_url=e["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ecs.create_cluster(clusterName="scratch")
    ecs.update_service(cluster="local", service="local-app", desiredCount=1)
    assert subprocess.run([SCRIPT, "reset"], env=env, capture_output=True).returncode == 0
    arns = ecs.list_clusters()["clusterArns"]
    assert [a.rsplit("/", 1)[1] for a in arns] == ["local"]
    s = ecs.describe_services(cluster="local", services=["local-app"])["services"][0]
    assert s["desiredCount"] == 2 and s["runningCount"] == 2 and s["deployments"][0]["rolloutState"] == "COMPLETED"
    assert s["events"] == []

    pids = set()
    ecr_mode = ("ecr-registry",) if e.get("SANDBOX_ECR_MODE") == "1" else ()
    for name in ("moto", "registry", "dockerd") + ecr_mode:
        with open(os.path.join(state, f"{name}.pid")) as f:
            pid = int(f.read())
        assert alive(pid), name
        pids |= {pid} | descendants(pid)
    sockdir = open(os.path.join(state, "sockdir")).read().strip()
    assert os.path.isdir(sockdir) and sockdir.startswith("/tmp/rsbx.")

    # The seeded service's tasks are containers of that instance's dockerd.
    denv = dict(env, DOCKER_HOST=e["DOCKER_HOST"])
    deadline = time.time() + 30
    while True:
        ps = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.amazonaws.ecs.cluster=local"], env=denv, capture_output=True, text=True)
        if len(ps.stdout.split()) == 2 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert len(ps.stdout.split()) == 2, ps.stdout + ps.stderr
    assert os.path.isfile(os.path.join(state, "lb", "local", "local-app.url"))
    assert "RELEASE_SANDBOX_URL" in e

    down = subprocess.run([SCRIPT, "down"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    # No container left behind, nor its data (`docker ps -a` would be empty on the next `up`).
    assert os.listdir(os.path.join(state, "docker-data", "containers")) == []
    left = [p for p in pids if alive(p)]
    assert left == [], f"left behind: {left}"
    assert not os.path.exists(sockdir)
    assert not os.path.exists(os.path.join(state, "env"))
    assert subprocess.run([SCRIPT, "status"], env=env, capture_output=True).returncode != 0
    print(f"second instance up in {up_time:.1f} s, {len(pids)} processes stopped")
