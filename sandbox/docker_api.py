"""A small client of the Docker Engine HTTP API over the sandbox dockerd's unix socket.

Only what the task runner needs: pull (with registry credentials), create/start/stop/remove,
list and logs.  https://docs.docker.com/engine/api/ (API 1.41: the Debian dockerd 20.10).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import urllib.parse
from typing import Any, Iterator

API = "/v1.41"


class DockerError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


def socket_path() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if not host.startswith("unix://"):
        raise RuntimeError(f"DOCKER_HOST must be a unix socket (unix://...), got {host!r}")
    return host[len("unix://") :]


class Docker:
    def __init__(self, path: str | None = None):
        self.path = path or socket_path()

    def _conn(self, timeout: float) -> _UnixConnection:
        return _UnixConnection(self.path, timeout)

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 60.0) -> tuple[int, bytes]:
        conn = self._conn(timeout)
        try:
            hdrs = dict(headers or {})
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            conn.request(method, API + path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 204, 304),
             headers: dict[str, str] | None = None, timeout: float = 60.0) -> Any:
        status, data = self.request(method, path, body, headers, timeout)
        if status not in ok:
            try:
                msg = json.loads(data).get("message", data.decode(errors="replace"))
            except ValueError:
                msg = data.decode(errors="replace")
            raise DockerError(status, msg)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data

    # ---- images ------------------------------------------------------------------
    def pull(self, ref: str, username: str | None, password: str | None, server: str) -> None:
        """POST /images/create?fromImage=ref; raises DockerError with the daemon's message."""
        headers = {}
        if username is not None:
            auth = {"username": username, "password": password, "serveraddress": server}
            headers["X-Registry-Auth"] = base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
        q = urllib.parse.urlencode({"fromImage": ref})
        status, data = self.request("POST", f"/images/create?{q}", headers=headers, timeout=300)
        if status != 200:
            try:
                msg = json.loads(data).get("message", "")
            except ValueError:
                msg = data.decode(errors="replace")
            raise DockerError(status, msg)
        for line in data.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if "error" in ev:
                raise DockerError(500, ev.get("error") or str(ev.get("errorDetail")))

    def image(self, ref: str) -> dict[str, Any]:
        return self.call("GET", f"/images/{urllib.parse.quote(ref, safe='')}/json")

    # ---- containers --------------------------------------------------------------
    def create(self, name: str, config: dict[str, Any]) -> str:
        q = urllib.parse.urlencode({"name": name})
        return self.call("POST", f"/containers/create?{q}", config)["Id"]

    def start(self, cid: str) -> None:
        self.call("POST", f"/containers/{cid}/start")

    def stop(self, cid: str, timeout: int) -> None:
        self.call("POST", f"/containers/{cid}/stop?t={int(timeout)}", ok=(204, 304, 404), timeout=timeout + 30)

    def remove(self, cid: str) -> None:
        self.call("DELETE", f"/containers/{cid}?force=true&v=true", ok=(204, 404, 409))

    def inspect(self, cid: str) -> dict[str, Any]:
        return self.call("GET", f"/containers/{cid}/json")

    def list(self, label: str) -> list[dict[str, Any]]:
        f = urllib.parse.quote(json.dumps({"label": [label]}))
        return self.call("GET", f"/containers/json?all=true&filters={f}", timeout=30)

    def follow_logs(self, cid: str) -> Iterator[tuple[str, str]]:
        """(stream, line) for each line the container writes, until it exits.  Without a TTY the
        body is multiplexed: 8-byte frame headers (stream type, 3 zero bytes, big-endian size)."""
        conn = self._conn(timeout=None)  # type: ignore[arg-type]
        try:
            conn.request("GET", f"{API}/containers/{cid}/logs?follow=true&stdout=true&stderr=true&timestamps=true")
            resp = conn.getresponse()
            if resp.status != 200:
                raise DockerError(resp.status, resp.read().decode(errors="replace"))
            bufs = {1: b"", 2: b""}
            while True:
                head = _read_exact(resp, 8)
                if head is None:
                    break
                kind, size = head[0], int.from_bytes(head[4:8], "big")
                payload = _read_exact(resp, size) or b""
                kind = 2 if kind == 2 else 1
                bufs[kind] += payload
                while b"\n" in bufs[kind]:
                    line, bufs[kind] = bufs[kind].split(b"\n", 1)
                    yield ("stderr" if kind == 2 else "stdout"), line.decode(errors="replace")
            for kind, rest in bufs.items():
                if rest:
                    yield ("stderr" if kind == 2 else "stdout"), rest.decode(errors="replace")
        finally:
            conn.close()


def _read_exact(resp: Any, n: int) -> bytes | None:
    out = b""
    while len(out) < n:
        chunk = resp.read(n - len(out))
        if not chunk:
            return None if not out else out
        out += chunk
    return out
