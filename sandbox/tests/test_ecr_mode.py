"""ECR mode (sandbox/ecr_registry.py in front of distribution): the registry address answers
as ECR does. With SANDBOX_ECR_MODE=0 the same tests check distribution's own answers instead,
so each test fails when the mode does not do what the env says."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest

import ecr_registry
import seed

ECR_MODE = os.environ.get("SANDBOX_ECR_MODE", "0") == "1"
IMMUTABLE_MESSAGE = "The image tag '{tag}' already exists in the '{repo}' repository and cannot be overwritten because the repository is immutable."


def push_marker(repo: str, tag: str, content: bytes) -> subprocess.CompletedProcess[str]:
    """docker build (FROM scratch, one file) and push registry/repo:tag; the push's result."""
    ref = f"{os.environ['RELEASE_SANDBOX_REGISTRY']}/{repo}:{tag}"
    with tempfile.TemporaryDirectory() as ctx:
        with open(os.path.join(ctx, "marker"), "wb") as f:
            f.write(content)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM scratch\nCOPY marker /marker\n")
        b = subprocess.run(["docker", "build", "-q", "-t", ref, ctx], env=dict(os.environ, DOCKER_BUILDKIT="0"), capture_output=True, text=True)
        assert b.returncode == 0, b.stderr
    return subprocess.run(["docker", "push", ref], capture_output=True, text=True, timeout=300)


def head_digest(repo: str, ref: str) -> str | None:
    status, headers, _ = seed.registry_request("HEAD", f"/v2/{repo}/manifests/{ref}", seed.MANIFEST_ACCEPT)
    return headers.get("Docker-Content-Digest") if status == 200 else None


def get_manifest(repo: str, ref: str) -> tuple[str, bytes]:
    status, headers, body = seed.registry_request("GET", f"/v2/{repo}/manifests/{ref}", seed.MANIFEST_ACCEPT)
    assert status == 200, (status, body)
    return headers["Content-Type"], body


def put_manifest(repo: str, tag: str, media_type: str, body: bytes) -> tuple[int, bytes]:
    user, password = seed.registry_credentials()
    req = urllib.request.Request(f"http://{os.environ['RELEASE_SANDBOX_REGISTRY']}/v2/{repo}/manifests/{tag}", data=body, method="PUT")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    req.add_header("Content-Type", media_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def two_images(ecr):
    """A repository in moto's ECR and the registry with two different images, tagged `a` and
    `b`: (name, (media type, manifest) of each)."""
    repo = "ecrmode-" + uuid.uuid4().hex[:8]
    ecr.create_repository(repositoryName=repo)
    for tag in ("a", "b"):
        out = push_marker(repo, tag, f"{tag} {uuid.uuid4()}\n".encode())
        assert out.returncode == 0, out.stdout + out.stderr
    return repo, get_manifest(repo, "a"), get_manifest(repo, "b")


def test_manifest_get_has_no_digest_header_and_head_has_it():
    digest = head_digest("app", "1.0.0")
    assert digest and digest.startswith("sha256:")
    status, headers, body = seed.registry_request("GET", "/v2/app/manifests/1.0.0", seed.MANIFEST_ACCEPT)
    assert status == 200
    # The body is the manifest whose bytes hash to the digest, with or without the header.
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
    if ECR_MODE:
        assert "Docker-Content-Digest" not in headers, headers
    else:
        assert headers["Docker-Content-Digest"] == digest
    # By digest too: ECR leaves the header out of a GET however the manifest is named.
    status, headers, body2 = seed.registry_request("GET", f"/v2/app/manifests/{digest}", seed.MANIFEST_ACCEPT)
    assert status == 200 and body2 == body
    assert ("Docker-Content-Digest" in headers) == (not ECR_MODE)


def test_immutable_repository_refuses_another_image_under_an_existing_tag(ecr, two_images):
    repo, (type_a, a), (type_b, b) = two_images
    ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="IMMUTABLE")
    digest_a = "sha256:" + hashlib.sha256(a).hexdigest()

    status, body = put_manifest(repo, "a", type_b, b)
    if not ECR_MODE:
        assert status == 201  # distribution moves the tag
        return
    assert status == 400, body
    assert json.loads(body) == {"errors": [{"code": "TAG_INVALID", "message": IMMUTABLE_MESSAGE.format(tag="a", repo=repo)}]}
    assert head_digest(repo, "a") == digest_a  # nothing moved
    # The same manifest again overwrites nothing and is accepted; a new tag is accepted.
    assert put_manifest(repo, "a", type_a, a)[0] == 201
    assert put_manifest(repo, "new", type_b, b)[0] == 201
    assert head_digest(repo, "new") == "sha256:" + hashlib.sha256(b).hexdigest()
    # Pushing by digest names no tag: never refused.
    assert put_manifest(repo, digest_a, type_a, a)[0] == 201


def test_docker_push_of_an_existing_tag_fails_with_ecrs_message(ecr):
    repo = "ecrmode-push-" + uuid.uuid4().hex[:8]
    ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
    first = push_marker(repo, "1.0.0", b"first\n")
    assert first.returncode == 0, first.stderr
    before = head_digest(repo, "1.0.0")
    second = push_marker(repo, "1.0.0", b"second\n")
    if not ECR_MODE:
        assert second.returncode == 0, second.stderr
        return
    assert second.returncode != 0
    # docker prints the OCI error as `<code, lowercased>: <message>`, as from ECR.
    assert "tag invalid: " + IMMUTABLE_MESSAGE.format(tag="1.0.0", repo=repo) in second.stderr, second.stderr
    assert head_digest(repo, "1.0.0") == before


def test_mutable_repository_moves_tags(ecr, two_images):
    repo, _, (type_b, b) = two_images
    assert ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]["imageTagMutability"] == "MUTABLE"
    assert put_manifest(repo, "a", type_b, b)[0] == 201
    assert head_digest(repo, "a") == "sha256:" + hashlib.sha256(b).hexdigest()


def test_exclusion_filters_decide_which_tags_are_immutable(ecr, two_images):
    repo, (type_a, a), (type_b, b) = two_images
    for tag in ("1.0.0", "latest-x", "v1", "dev"):
        assert put_manifest(repo, tag, type_a, a)[0] == 201
    # IMMUTABLE_WITH_EXCLUSION: every tag is immutable but those the filters match.
    ecr.put_image_tag_mutability(
        repositoryName=repo, imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest*"}],
    )
    assert put_manifest(repo, "latest-x", type_b, b)[0] == 201
    assert put_manifest(repo, "1.0.0", type_b, b)[0] == (400 if ECR_MODE else 201)
    # MUTABLE_WITH_EXCLUSION: only the tags the filters match are immutable.
    ecr.put_image_tag_mutability(
        repositoryName=repo, imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "v*"}],
    )
    assert put_manifest(repo, "dev", type_b, b)[0] == 201
    assert put_manifest(repo, "v1", type_b, b)[0] == (400 if ECR_MODE else 201)


def test_wildcard_filters_match_the_whole_tag():
    assert ecr_registry.wildcard("latest*", "latest") and ecr_registry.wildcard("latest*", "latest-x")
    assert not ecr_registry.wildcard("latest*", "x-latest")
    assert ecr_registry.wildcard("*-rc*", "1.0.0-rc.1") and not ecr_registry.wildcard("*-rc*", "1.0.0")
    assert ecr_registry.wildcard("1.0.0", "1.0.0") and not ecr_registry.wildcard("1.0.0", "1.0.0a")
    assert ecr_registry.wildcard("a.b", "a.b") and not ecr_registry.wildcard("a.b", "axb")  # `.` is literal
    f = [{"filterType": "WILDCARD", "filter": "latest"}]
    assert ecr_registry.tag_is_immutable("IMMUTABLE", f, "latest")  # IMMUTABLE ignores filters
    assert not ecr_registry.tag_is_immutable("IMMUTABLE_WITH_EXCLUSION", f, "latest")
    assert ecr_registry.tag_is_immutable("IMMUTABLE_WITH_EXCLUSION", f, "1.0.0")
    assert ecr_registry.tag_is_immutable("MUTABLE_WITH_EXCLUSION", f, "latest")
    assert not ecr_registry.tag_is_immutable("MUTABLE_WITH_EXCLUSION", f, "1.0.0")
    assert not ecr_registry.tag_is_immutable("MUTABLE", f, "latest")


def test_a_large_layer_streams_through_in_chunks():
    """docker push uploads a layer in chunked PATCH requests; 24 MiB of random bytes arrive
    intact (the registry verifies the layer's digest on the final PUT)."""
    repo = "ecrmode-big-" + uuid.uuid4().hex[:8]
    t0 = time.time()
    out = push_marker(repo, "big", os.urandom(24 * 1024 * 1024))
    assert out.returncode == 0, out.stdout + out.stderr
    digest = head_digest(repo, "big")
    _, manifest = get_manifest(repo, "big")
    layer = json.loads(manifest)["layers"][0]["digest"]
    status, _, blob = seed.registry_request("GET", f"/v2/{repo}/blobs/{layer}")
    assert status == 200 and "sha256:" + hashlib.sha256(blob).hexdigest() == layer
    assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    print(f"24 MiB layer built and pushed in {time.time() - t0:.1f} s (ECR mode {ECR_MODE})")
