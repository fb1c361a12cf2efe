"""Seed the sandbox (moto ECS/ECR/SSM + the local registry).

  python sandbox/seed.py --base          the seeded world of plans/local.toml (used by
                                         `scripts/sandbox up` and `reset`); builds and pushes
                                         the first image when the registry lacks it
  python sandbox/seed.py --name NAME     an isolated copy for one test: cluster NAME,
                                         service NAME, family NAME, secret /NAME/jwt-secret,
                                         reusing the pushed image

Both print one JSON object: {"cluster","service","family","secret","image","digest","registry"}.
Reads AWS_ENDPOINT_URL, RELEASE_SANDBOX_REGISTRY, DOCKER_HOST, DOCKER_CONFIG from the
environment (source .sandbox/env first).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from typing import Any

import boto3

REGION = os.environ.get("AWS_REGION", "us-east-1")
ACCOUNT = "123456789012"
REPO = "app"
TAG = "1.0.0"
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def client(name: str) -> Any:
    return boto3.client(
        name,
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def registry_credentials() -> tuple[str, str]:
    """The user/password moto's ECR GetAuthorizationToken hands out ("AWS:<password>")."""
    tok = client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(tok).decode().split(":", 1)
    return user, password


def registry_request(method: str, path: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
    registry = os.environ["RELEASE_SANDBOX_REGISTRY"]
    user, password = registry_credentials()
    req = urllib.request.Request(f"http://{registry}{path}", method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def fetch_manifest(repo: str = REPO, ref: str = TAG) -> tuple[str, str, bytes] | None:
    """(digest, media type, manifest bytes) as the registry serves them, or None."""
    status, headers, _ = registry_request("HEAD", f"/v2/{repo}/manifests/{ref}", MANIFEST_ACCEPT)
    if status != 200:
        return None
    status, headers2, body = registry_request("GET", f"/v2/{repo}/manifests/{ref}", MANIFEST_ACCEPT)
    if status != 200:
        return None
    digest = headers["Docker-Content-Digest"]
    # In ECR mode (as ECR) a GET answers without the header; distribution sends it.
    assert headers2.get("Docker-Content-Digest", digest) == digest
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest, "manifest bytes do not hash to the digest"
    return digest, headers2["Content-Type"], body


APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "app")


def build_and_push(version: str = TAG, repo: str = REPO, broken: bool = False) -> str:
    """Build examples/app (a real server: busybox httpd, FROM scratch) as `version` with its own
    build step, classic builder, and push; return the digest the push printed."""
    registry = os.environ["RELEASE_SANDBOX_REGISTRY"]
    ref = f"{registry}/{repo}:{version}"
    with tempfile.TemporaryDirectory() as tmp:
        ctx = os.path.join(tmp, "app")
        shutil.copytree(APP, ctx, ignore=shutil.ignore_patterns("dist"))
        b = subprocess.run(["sh", "build.sh"], cwd=ctx, env=dict(os.environ, RELEASE_VERSION=version), capture_output=True, text=True)
        if b.returncode != 0:
            raise SystemExit(f"examples/app build.sh failed:\n{b.stdout}{b.stderr}")
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        args = ["docker", "build", "-q", "-t", ref, "--build-arg", f"VERSION={version}", "--label", f"sandbox.app-hash={app_hash()}"]
        if broken:
            args += ["--build-arg", "BROKEN=yes"]
        b = subprocess.run(args + [ctx], env=env, capture_output=True, text=True)
        if b.returncode != 0:
            raise SystemExit(f"docker build failed:\n{b.stdout}{b.stderr}")
    out = subprocess.run(["docker", "push", ref], check=True, capture_output=True, text=True).stdout
    m = re.search(rf"{re.escape(version)}: digest: (sha256:[0-9a-f]{{64}}) size: \d+", out)
    if not m:
        raise SystemExit(f"no digest in push output:\n{out}")
    return m.group(1)


def app_hash() -> str:
    """sha256 of examples/app's sources: the seed image is rebuilt when they change."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(APP)):
        path = os.path.join(APP, name)
        if os.path.isfile(path):
            h.update(name.encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def runnable(manifest: bytes) -> bool:
    """Is the pushed seed image today's example app (not the FROM scratch page of sandboxes
    before tasks ran for real, nor an older app)?"""
    try:
        cfg = json.loads(manifest)["config"]["digest"]
        status, _, body = registry_request("GET", f"/v2/{REPO}/blobs/{cfg}")
        labels = (json.loads(body).get("config") or {}).get("Labels") or {}
        return status == 200 and labels.get("sandbox.app-hash") == app_hash()
    except (KeyError, ValueError):
        return False


def record_in_ecr(digest: str, media_type: str, manifest: bytes, repo: str = REPO, tag: str = TAG) -> None:
    ecr = client("ecr")
    try:
        ecr.create_repository(repositoryName=repo)
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    try:
        ecr.put_image(
            repositoryName=repo,
            imageManifest=manifest.decode(),
            imageManifestMediaType=media_type,
            imageTag=tag,
            imageDigest=digest,
        )
    except ecr.exceptions.ImageAlreadyExistsException:
        pass


def ensure_image() -> str:
    """The first image, in the registry and in moto's ECR, with its true digest."""
    found = fetch_manifest()
    if found is None or not runnable(found[2]):
        # none yet, or the FROM scratch page of sandboxes before tasks ran for real: (re)build
        pushed = build_and_push()
        found = fetch_manifest()
        if found is None or found[0] != pushed:
            raise SystemExit(f"registry digest {found and found[0]} != push output {pushed}")
    digest, media_type, body = found
    record_in_ecr(digest, media_type, body)
    return digest


def image_digest_from_ecr(repo: str = REPO, tag: str = TAG) -> str:
    ecr = client("ecr")
    return ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])["imageDetails"][0]["imageDigest"]


def put_secret(name: str) -> None:
    value = secrets.token_urlsafe(48)  # 64 url-safe characters, no newline
    assert len(value.encode()) == 64
    client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def container_definition(family: str, image: str, secret: str, scenario: str = "healthy", version: str = TAG) -> dict[str, Any]:
    """The app's container, as templates/local.json renders it: the scenario is what the app
    does (SANDBOX_SCENARIO), the label only what a container cannot do (stuck, flaky)."""
    return {
        "name": "app",
        "image": image,
        "memory": 128,
        "essential": True,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        "dockerLabels": {"sandbox.scenario": scenario},
        "secrets": [{"name": "JWT_SECRET", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{secret}"}],
        "environment": [{"name": "RELEASE_VERSION", "value": version}, {"name": "SANDBOX_SCENARIO", "value": scenario}],
        "healthCheck": HEALTH_CHECK,
        "linuxParameters": {"initProcessEnabled": True},
        "stopTimeout": 10,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": f"/ecs/{family}",
                "awslogs-region": REGION,
                "awslogs-stream-prefix": "ecs",
                "awslogs-create-group": "true",
            },
        },
    }


HEALTH_CHECK = {
    "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:$PORT/health || exit 1"],
    "interval": 5,
    "timeout": 4,
    "retries": 2,
    "startPeriod": 0,
}


def register(family: str, image: str, digest: str, secret: str, scenario: str = "healthy", version: str = TAG) -> str:
    ecs = client("ecs")
    td = ecs.register_task_definition(
        family=family,
        containerDefinitions=[container_definition(family, image, secret, scenario, version)],
        # `registered-by` marks the seed's revision as registered outside release: a plan's
        # template (without that tag) differs from it, so a test's first deploy registers and
        # rolls out a revision; `release init` copies the tag, so its plan matches exactly.
        tags=[
            {"key": "release:version", "value": version},
            {"key": "release:digest", "value": digest},
            {"key": "registered-by", "value": "sandbox-seed"},
        ],
    )
    return td["taskDefinition"]["taskDefinitionArn"]


def seed(
    cluster: str,
    service: str,
    family: str,
    secret: str,
    digest: str,
    desired: int = 2,
    rollback: bool = True,
    tags: dict[str, str] | None = None,
    strategy: str | None = None,
    bake_minutes: int | None = None,
    alarms: list[str] | None = None,
    alarm_rollback: bool = False,
    controller: str = "ECS",
    steady: bool = True,
    scenario: str = "healthy",
) -> dict[str, Any]:
    registry = os.environ["RELEASE_SANDBOX_REGISTRY"]
    image = f"{registry}/{REPO}@{digest}"
    put_secret(secret)
    ecs = client("ecs")
    ecs.create_cluster(clusterName=cluster)
    td_arn = register(family, image, digest, secret, scenario=scenario)
    dc: dict[str, Any] = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": rollback},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    if strategy:
        dc["strategy"] = strategy
    if bake_minutes is not None:
        dc["bakeTimeInMinutes"] = bake_minutes
    if alarms:
        cw = client("cloudwatch")
        for name in alarms:
            cw.put_metric_alarm(
                AlarmName=name, Namespace="AWS/ECS", MetricName="CPUUtilization", Statistic="Average",
                Dimensions=[{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service}],
                Period=60, EvaluationPeriods=1, Threshold=90.0, ComparisonOperator="GreaterThanThreshold",
            )  # a new alarm starts in state OK in moto
        dc["alarms"] = {"alarmNames": list(alarms), "enable": True, "rollback": alarm_rollback}
    all_tags = dict(tags or {})
    if steady:
        # sandbox-only: the service starts steady (one COMPLETED deployment, `desired` RUNNING tasks)
        all_tags.setdefault("sandbox.steady", "true")
    kw: dict[str, Any] = {}
    if all_tags:
        kw["tags"] = [{"key": k, "value": v} for k, v in all_tags.items()]
    if controller != "ECS":
        kw["deploymentController"] = {"type": controller}
    ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition=td_arn,
        desiredCount=desired,
        launchType="EC2",
        deploymentConfiguration=dc,
        **kw,
    )
    return {
        "cluster": cluster,
        "service": service,
        "family": family,
        "secret": secret,
        "image": image,
        "digest": digest,
        "registry": registry,
        "taskDefinition": td_arn,
    }


def seed_base() -> dict[str, Any]:
    digest = ensure_image()
    return seed("local", "local-app", "local-app", "/local/app/jwt-secret", digest)


def seed_named(name: str, rollback: bool = True, **kw: Any) -> dict[str, Any]:
    return seed(name, name, name, f"/{name}/jwt-secret", image_digest_from_ecr(), rollback=rollback, **kw)


def _tag(s: str) -> tuple[str, str]:
    if "=" not in s:
        raise argparse.ArgumentTypeError("--tag wants KEY=VALUE")
    k, v = s.split("=", 1)
    return k, v


def main() -> None:
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--base", action="store_true")
    g.add_argument("--name")
    ap.add_argument("--no-rollback", action="store_true", help="deploymentCircuitBreaker.rollback=false")
    ap.add_argument("--tag", action="append", type=_tag, default=[], metavar="KEY=VALUE", help="extra service tag (repeatable)")
    ap.add_argument("--strategy", choices=["ROLLING", "BLUE_GREEN"], help="deploymentConfiguration.strategy")
    ap.add_argument("--bake-minutes", type=int, help="deploymentConfiguration.bakeTimeInMinutes")
    ap.add_argument("--alarm", action="append", default=[], metavar="NAME", help="CloudWatch alarm (state OK) in deploymentConfiguration.alarms (repeatable)")
    ap.add_argument("--alarm-rollback", action="store_true", help="deploymentConfiguration.alarms.rollback=true")
    ap.add_argument("--controller", choices=["ECS", "CODE_DEPLOY", "EXTERNAL"], default="ECS")
    ap.add_argument("--no-steady", action="store_true", help="start with the first deployment IN_PROGRESS (no COMPLETED deployment yet)")
    ap.add_argument("--scenario", choices=["healthy", "slow", "crashloop", "unhealthy", "stuck"], default="healthy", help="sandbox.scenario label of the first revision")
    ap.add_argument("--desired", type=int, default=2)
    args = ap.parse_args()
    if args.name and not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", args.name):
        raise SystemExit("--name: letters, digits, - and _ only")
    if args.base:
        out = seed_base()
    else:
        out = seed_named(
            args.name, rollback=not args.no_rollback, tags=dict(args.tag), strategy=args.strategy,
            bake_minutes=args.bake_minutes, alarms=args.alarm, alarm_rollback=args.alarm_rollback,
            controller=args.controller, steady=not args.no_steady, scenario=args.scenario, desired=args.desired,
        )
        if args.alarm:
            out["alarms"] = args.alarm
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
