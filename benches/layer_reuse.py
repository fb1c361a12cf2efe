"""Measures, against the running sandbox, what a second version of a changed app costs to build
and push: which layers `release build` pushes and which the registry already has, the bytes
pushed, and the build+push time of a first build of a version and of the same version built
again (`--rebuild`, everything in the builder's cache), for each builder this machine has.

The app is examples/app with its Dockerfile reordered for reuse: the layers that do not change
between versions (busybox, app.sh) first, the version's page last. (examples/app itself puts the
page first on purpose, so that the tests' parallel builds of different versions share no layer.)
Version 2 changes only the page.

Layers pushed: from the push's output (`Pushed` / `Layer already exists` per layer; both
builders' images are pushed by `<cli> push`) in `release --verbose build`, and the
bytes as the registry's manifest lists each layer's size (API_ImageManifest, OCI image
manifest `layers[].size`).

Run: . .sandbox/env && $SANDBOX_PYTHON benches/layer_reuse.py   (after `cargo build`)
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "debug", "release")


def seed(name):
    out = subprocess.run([os.environ["SANDBOX_PYTHON"], os.path.join(ROOT, "sandbox", "seed.py"), "--name", name],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def app_copy():
    d = tempfile.mkdtemp()
    for f in os.listdir(os.path.join(ROOT, "examples", "app")):
        src = os.path.join(ROOT, "examples", "app", f)
        if os.path.isfile(src):
            shutil.copy(src, d)
    dockerfile = open(os.path.join(d, "Dockerfile")).read()
    page = "COPY dist/index.html /www/index.html\n"
    assert page in dockerfile
    dockerfile = dockerfile.replace(page, "").replace("COPY app.sh /app.sh\n", "COPY app.sh /app.sh\n" + page)
    open(os.path.join(d, "Dockerfile"), "w").write(dockerfile)
    return d


def plan(s, app, version, builder, cli):
    d = tempfile.mkdtemp()
    shutil.copy(os.path.join(ROOT, "templates", "local.json"), os.path.join(d, "template.json"))
    text = f"""[service]
cluster = "{s['cluster']}"
name = "{s['service']}"
[release]
version = "{version}"
[image]
repository = "{s['registry']}/app"
tags = ["{{{{ version }}}}"]
login = "ecr"
[build]
context = "{app}"
platform = "linux/amd64"
before = ["sh build.sh"]
args = {{ VERSION = "{{{{ version }}}}" }}
cli = "{cli}"
builder = "{builder}"
network = "none"
[task_definition]
family = "{s['family']}"
template = "template.json"
[task_definition.vars]
jwt_secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter{s['secret']}"
scenario = "healthy"
"""
    p = os.path.join(d, "plan.toml")
    open(p, "w").write(text)
    return p


def ecr_auth():
    import boto3
    token = boto3.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return "Basic " + token


def layer_sizes(registry, tag):
    req = urllib.request.Request(f"http://{registry}/v2/app/manifests/{tag}", headers={
        "Authorization": ecr_auth(),
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    })
    manifest = json.load(urllib.request.urlopen(req))
    return {l["digest"]: l["size"] for l in manifest["layers"]}


def build(p, rebuild=False):
    started = time.monotonic()
    res = subprocess.run([BIN, "--verbose", "build", p] + (["--rebuild"] if rebuild else []), capture_output=True, text=True)
    took = time.monotonic() - started
    if res.returncode != 0:
        sys.exit(f"release build failed ({res.returncode}):\n{res.stderr[-3000:]}")
    text = res.stderr
    # docker's builders' images are pushed by `docker push` (buildx with --load first), which
    # says per layer `Pushed` or `Layer already exists`. podman's and buildah's push, when not
    # on a terminal, print `Copying blob sha256:…` for every blob, sent or not: no count
    # (the manifests' comparison below says which layers are new).
    if "Copying blob" in text:
        return took, None, None
    pushed = len(re.findall(r": Pushed$", text, re.M))
    existed = len(re.findall(r": Layer already exists$", text, re.M))
    return took, pushed, existed


def layers(counts):
    _, pushed, existed = counts
    if pushed is None:
        return "layers pushed: not in the push's output"
    return f"layers pushed {pushed}, already there {existed}"


def clis():
    """(builder, cli) for each builder this machine can run: legacy with the first docker on
    PATH; BuildKit with a docker CLI that has it (buildx, or 19.03-22.x with it built in);
    podman's and buildah's (buildah's builder) when installed (the sandbox points them at its
    registry and a vfs store)."""
    found = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        cli = os.path.join(d, "docker")
        if not os.path.isfile(cli):
            continue
        if not found:
            found.append(("legacy", cli))
        v = subprocess.run([cli, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True).stdout.strip()
        buildx = subprocess.run([cli, "buildx", "version"], capture_output=True).returncode == 0
        major = int(v.split(".")[0]) if v.split(".")[0].isdigit() else 0
        if buildx or 19 <= major < 23:
            found.append(("buildkit", cli))
            break
    for tool in ("podman", "buildah"):
        if shutil.which(tool):
            found.append((tool, tool))
    return found


def main():
    for builder, cli in clis():
        s = seed(f"bench-layers-{builder}-{os.getpid()}")
        app = app_copy()
        n = {"legacy": 0, "buildkit": 1, "podman": 2, "buildah": 3}[builder]
        v1, v2 = f"{n}.1.{os.getpid()}", f"{n}.2.{os.getpid()}"
        rows = []
        for version in (v1, v2):
            p = plan(s, app, version, builder, cli)
            cold = build(p)
            sizes = layer_sizes(s["registry"], version)
            rows.append((version, cold, sizes))
            warm = build(p, rebuild=True) if version == v1 else None
            if warm:
                rows[-1] = (version, cold, sizes, warm)
        first, second = rows[0][2], rows[1][2]
        new = {d: n for d, n in second.items() if d not in first}
        total = sum(second.values())
        print(f"build.builder = {builder} ({cli}):")
        print(f"  {v1} first build: build+push {rows[0][1][0]:.1f}s, {layers(rows[0][1])}; "
              f"again with --rebuild (all cached): {rows[0][3][0]:.1f}s, {layers(rows[0][3])}")
        print(f"  {v2} (page changed): build+push {rows[1][1][0]:.1f}s, {layers(rows[1][1])}; "
              f"new layers {len(new)} of {len(second)}: {sum(new.values())} of {total} bytes ({100 * sum(new.values()) / max(total, 1):.2f} %)")


if __name__ == "__main__":
    main()
