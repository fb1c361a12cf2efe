"""A load balancer per service: a small HTTP reverse proxy on 127.0.0.1, on a port that stays
the same for a (cluster, service) for the life of the sandbox (also across `reset`).

Targets are the tasks' host ports.  The task runner registers a task when it is healthy (or
running, without a healthCheck) and deregisters it when it stops or turns unhealthy; a
deregistered target gets no new requests, and its container is stopped only after the
deregistration delay (SANDBOX_DEREGISTRATION_DELAY, default 1 s; AWS's default is 300 s), as
an ELB target group drains a target.  Requests go round-robin; with no target the answer is
503, as an ALB answers when its target group has no registered target.

`$SANDBOX_DIR/lb/<cluster>/<service>.url` holds each load balancer's URL (`scripts/sandbox url`).
"""

from __future__ import annotations

import http.client
import http.server
import itertools
import os
import socket
import socketserver
import threading
import time
from typing import Any

_lock = threading.RLock()
_lbs: dict[tuple[str, str], "ServiceLB"] = {}
_ports: dict[tuple[str, str], int] = {}  # stable across reset
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade"}


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class ServiceLB:
    def __init__(self, key: tuple[str, str], port: int):
        self.key = key
        self.targets: dict[str, int] = {}  # task id -> host port
        self._rr = itertools.count()
        self.waker: Any = None  # wakes a hibernated service (ecs_rollout)
        lb = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a: Any) -> None:
                pass

            def _proxy(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                tried: set[int] = set()
                if not lb.targets and lb.waker is not None and lb.waker():
                    # A hibernated service starts its containers again: wait for a target.
                    deadline = time.time() + 20
                    while not lb.targets and time.time() < deadline:
                        time.sleep(0.2)
                while True:
                    port = lb.pick(tried)
                    if port is None:
                        msg = b"503 Service Temporarily Unavailable: no healthy target\n"
                        self.send_response(503)
                        self.send_header("Content-Type", "text/plain")
                        self.send_header("Content-Length", str(len(msg)))
                        self.end_headers()
                        self.wfile.write(msg)
                        return
                    tried.add(port)
                    try:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                        headers["X-Forwarded-For"] = self.client_address[0]
                        conn.request(self.command, self.path, body=body, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                        conn.close()
                    except OSError:
                        continue  # a target that just went away: try another
                    self.send_response(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    return

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _proxy

        self.server = _Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5}, name=f"lb-{key[1]}", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pick(self, exclude: set[int]) -> int | None:
        with _lock:
            ports = sorted(p for p in self.targets.values() if p not in exclude)
        if not ports:
            return None
        return ports[next(self._rr) % len(ports)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _url_file(key: tuple[str, str]) -> str | None:
    d = os.environ.get("SANDBOX_DIR")
    if not d:
        return None
    return os.path.join(d, "lb", key[0], key[1] + ".url")


def ensure(key: tuple[str, str]) -> ServiceLB:
    with _lock:
        lb = _lbs.get(key)
        if lb is not None:
            return lb
        port = _ports.get(key, 0)
        try:
            lb = ServiceLB(key, port)
        except OSError:
            lb = ServiceLB(key, 0)  # the old port was taken meanwhile
        _ports[key] = lb.port
        _lbs[key] = lb
        path = _url_file(key)
        if path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".tmp", "w") as f:
                f.write(lb.url + "\n")
            os.replace(path + ".tmp", path)
        return lb


def get(key: tuple[str, str]) -> ServiceLB | None:
    return _lbs.get(key)


def register(key: tuple[str, str], task_id: str, port: int) -> None:
    with _lock:
        lb = _lbs.get(key)
        if lb is not None:
            lb.targets[task_id] = port


def deregister(key: tuple[str, str], task_id: str) -> None:
    with _lock:
        lb = _lbs.get(key)
        if lb is not None:
            lb.targets.pop(task_id, None)


def close(key: tuple[str, str]) -> None:
    with _lock:
        lb = _lbs.pop(key, None)
    if lb is not None:
        lb.close()
        path = _url_file(key)
        if path:
            try:
                os.remove(path)
            except OSError:
                pass


def close_all() -> None:
    for key in list(_lbs):
        close(key)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
