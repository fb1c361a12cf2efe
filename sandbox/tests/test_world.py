"""SSM, the registry and ECR: byte-exact secrets and true digests."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import seed


def test_trailing_newline_secret_survives(ssm, world):
    value = "x" * 64 + "\n"
    name = f"{world['secret']}-nl"
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    got = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    assert got.encode() == value.encode() and len(got.encode()) == 65


def test_seeded_secret_is_64_bytes(ssm, world):
    p = ssm.get_parameter(Name=world["secret"], WithDecryption=True)["Parameter"]
    assert p["Type"] == "SecureString" and len(p["Value"].encode()) == 64 and not p["Value"].endswith("\n")


def test_registry_digest_equals_push_output():
    tag = "t" + uuid.uuid4().hex[:8]
    pushed = seed.build_and_push(version=tag, repo="probe")
    digest, media_type, body = seed.fetch_manifest("probe", tag)
    assert digest == pushed == "sha256:" + hashlib.sha256(body).hexdigest()
    # by digest too
    assert seed.fetch_manifest("probe", pushed)[0] == pushed


def test_ecr_records_true_digest_and_manifest(ecr, world):
    digest, media_type, body = seed.fetch_manifest()
    assert world["digest"] == digest
    [img] = ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "1.0.0"}])["images"]
    assert img["imageId"]["imageDigest"] == digest
    assert img["imageManifest"].encode() == body
    assert "sha256:" + hashlib.sha256(img["imageManifest"].encode()).hexdigest() == digest


def test_registry_credentials_are_ecr_token(ecr):
    tok = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(tok).decode().split(":", 1)
    assert user == "AWS"
    status, _, _ = seed.registry_request("GET", "/v2/")
    assert status == 200
    import os
    with open(os.path.join(os.environ["DOCKER_CONFIG"], "config.json")) as f:
        auths = json.load(f)["auths"]
    assert base64.b64decode(auths[os.environ["RELEASE_SANDBOX_REGISTRY"]]["auth"]).decode() == f"{user}:{password}"


def test_task_definition_tags(ecs, world):
    tags = ecs.list_tags_for_resource(resourceArn=world["taskDefinition"])["tags"]
    assert {"key": "release:digest", "value": world["digest"]} in tags
    r = ecs.describe_task_definition(taskDefinition=world["taskDefinition"], include=["TAGS"])
    assert {"key": "release:version", "value": "1.0.0"} in r["tags"]
    cd = r["taskDefinition"]["containerDefinitions"][0]
    assert cd["image"] == world["image"] and cd["secrets"][0]["valueFrom"].endswith(f"parameter{world['secret']}")
