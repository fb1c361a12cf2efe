"""ECR mode: the sandbox's registry answering as Amazon ECR does, where ECR differs from
distribution (the registry behind it). A threaded HTTP proxy, stdlib only, that streams every
body (docker push sends layers in chunked PATCH uploads) and changes exactly these answers:

- a manifest GET answers without `Docker-Content-Digest` (a HEAD keeps it): ECR sends the
  header on HEAD only (aws/containers-roadmap#1931, open);
- a manifest PUT to a tag that already holds another digest, in a repository whose
  `imageTagMutability` (moto's ECR DescribeRepositories, asked at every such PUT) makes that tag
  immutable, is refused as ECR refuses it: HTTP 400,
  `{"errors":[{"code":"TAG_INVALID","message":"The image tag '<tag>' already exists in the
  '<repository>' repository and cannot be overwritten because the repository is immutable."}]}`
  (ImageTagAlreadyExistsException; ECR user guide "Preventing image tags from being overwritten").
  IMMUTABLE: every tag; IMMUTABLE_WITH_EXCLUSION: every tag but those matching an exclusion
  filter; MUTABLE_WITH_EXCLUSION: only the tags matching one (WILDCARD filters, `*` = any run
  of characters, matched against the whole tag). A repository moto does not know is mutable
  (distribution's behaviour).

Every other request and answer passes through unchanged (Location is rewritten only if it names
the upstream's own address). Errors are already in the OCI shape ECR uses
(`{"errors":[{"code","message","detail"}]}`), so nothing else is rewritten.

Usage: python sandbox/ecr_registry.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
(AWS_ENDPOINT_URL: moto).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 64 * 1024
MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/?]+)(?:\?.*)?$")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
MAX_MANIFEST = 4 * 1024 * 1024  # ECR's manifest size limit (4 MiB); larger PUTs stream through


def wildcard(pattern: str, tag: str) -> bool:
    """An ECR WILDCARD exclusion filter (`[0-9a-zA-Z._*-]`, `*` any run) against a whole tag."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), tag) is not None


def tag_is_immutable(mutability: str, filters: list[dict[str, str]], tag: str) -> bool:
    """Whether `tag` cannot be overwritten under a repository's mutability setting."""
    matched = any(f.get("filterType", "WILDCARD") == "WILDCARD" and wildcard(f["filter"], tag) for f in filters)
    if mutability == "IMMUTABLE":
        return True
    if mutability == "IMMUTABLE_WITH_EXCLUSION":
        return not matched
    if mutability == "MUTABLE_WITH_EXCLUSION":
        return matched
    return False


def immutable_message(tag: str, repository: str) -> bytes:
    return json.dumps(
        {
            "errors": [
                {
                    "code": "TAG_INVALID",
                    "message": f"The image tag '{tag}' already exists in the '{repository}' repository "
                    "and cannot be overwritten because the repository is immutable.",
                }
            ]
        }
    ).encode()


class Mutability:
    """moto's ECR DescribeRepositories, asked for each manifest PUT by tag (no cache: a test
    changes a repository's setting with PutImageTagMutability and pushes at once)."""

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client(
                    "ecr",
                    endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                    region_name=os.environ.get("AWS_REGION", "us-east-1"),
                    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
                )
            return self._client

    def of(self, repository: str) -> tuple[str, list[dict[str, str]]]:
        try:
            repo = self.client().describe_repositories(repositoryNames=[repository])["repositories"][0]
        except Exception:  # RepositoryNotFoundException, or moto not answering: distribution's behaviour
            return "MUTABLE", []
        return repo.get("imageTagMutability", "MUTABLE"), repo.get("imageTagMutabilityExclusionFilters") or []


MUTABILITY = Mutability()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""  # host:port of distribution

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write("ecr-registry: %s %s\n" % (self.address_string(), fmt % args))

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if str(code).isdigit() and int(code) >= 400 and int(code) != 401:
            super().log_request(code, size)  # refusals and errors only: a push is many requests

    # Every method goes through the same path.
    def do_GET(self) -> None:
        self.proxy()

    do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    # -- request body -----------------------------------------------------------------------
    def body_chunks(self):
        """The request body as it arrives (Content-Length or chunked), in pieces."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                left = size
                while left:
                    piece = self.rfile.read(min(CHUNK, left))
                    if not piece:
                        return
                    left -= len(piece)
                    yield piece
                self.rfile.readline()  # CRLF after the chunk
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                piece = self.rfile.read(min(CHUNK, left))
                if not piece:
                    return
                left -= len(piece)
                yield piece

    def has_body(self) -> bool:
        return self.headers.get("Transfer-Encoding", "").lower() == "chunked" or int(self.headers.get("Content-Length") or 0) > 0

    # -- proxy ------------------------------------------------------------------------------
    def proxy(self) -> None:
        m = MANIFEST.match(self.path)
        buffered: bytes | None = None
        if m and self.command == "PUT" and not m.group("ref").startswith("sha256:"):
            buffered = b"".join(self.body_chunks())
            if len(buffered) <= MAX_MANIFEST and self.refuse_immutable(m.group("name"), m.group("ref"), buffered):
                return
        conn = http.client.HTTPConnection(self.upstream, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked_in = False
            for k, v in self.headers.items():
                lk = k.lower()
                if lk in HOP_BY_HOP or (buffered is not None and lk == "content-length"):
                    continue
                conn.putheader(k, v)
            if buffered is not None:
                conn.putheader("Content-Length", str(len(buffered)))
            elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                conn.putheader("Transfer-Encoding", "chunked")
                chunked_in = True
            conn.endheaders()
            if buffered is not None:
                conn.send(buffered)
            elif chunked_in:
                for piece in self.body_chunks():
                    conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                conn.send(b"0\r\n\r\n")
            elif self.has_body():
                for piece in self.body_chunks():
                    conn.send(piece)
            resp = conn.getresponse()
            self.relay(resp, strip_digest=bool(m) and self.command == "GET")
        finally:
            conn.close()

    def relay(self, resp: http.client.HTTPResponse, strip_digest: bool) -> None:
        self.send_response_only(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if strip_digest and lk == "docker-content-digest":
                continue  # ECR: the digest only on HEAD
            if lk == "location":
                v = v.replace(f"//{self.upstream}/", f"//{self.headers.get('Host', self.upstream)}/")
            self.send_header(k, v)
        body_allowed = self.command != "HEAD" and resp.status not in (204, 304) and not 100 <= resp.status < 200
        chunked_out = body_allowed and length is None
        if chunked_out:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not body_allowed:
            return
        while True:
            piece = resp.read(CHUNK)
            if not piece:
                break
            self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n" if chunked_out else piece)
        if chunked_out:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def refuse_immutable(self, repository: str, tag: str, manifest: bytes) -> bool:
        """ECR's answer to overwriting an immutable tag; False when the PUT may go on."""
        mutability, filters = MUTABILITY.of(repository)
        if not tag_is_immutable(mutability, filters, tag):
            return False
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            headers = {"Accept": MANIFEST_ACCEPT, "Host": self.headers.get("Host", self.upstream)}
            if self.headers.get("Authorization"):
                headers["Authorization"] = self.headers["Authorization"]
            conn.request("HEAD", f"/v2/{repository}/manifests/{tag}", headers=headers)
            head = conn.getresponse()
            head.read()
            existing = head.getheader("Docker-Content-Digest")
        finally:
            conn.close()
        if head.status != 200 or not existing:
            return False  # no such tag yet (or the credentials are refused: distribution says so)
        if existing == "sha256:" + hashlib.sha256(manifest).hexdigest():
            return False  # the same manifest again: nothing is overwritten
        body = immutable_message(tag, repository)
        self.send_response(400)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True, help="host:port to serve on")
    ap.add_argument("--upstream", required=True, help="host:port of distribution")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    Handler.upstream = args.upstream
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    sys.stderr.write(f"ecr-registry: ECR mode on {args.listen}, in front of {args.upstream}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
