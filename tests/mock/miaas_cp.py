#!/usr/bin/env python3
"""miaas_cp.py: a mock MIaaS control plane for berth's tests.

It answers and validates as CONTRACTS.md section 3 says the real one
(FastAPI + pydantic) does:

  POST /api/v1/nodes/register   no auth; body {name: str, ip: str,
      capabilities: {os: str, cpu_count: int, mem_mb: int, gpus: list,
      disk_mb?: int, docker?: dict, k8s?: dict}}; 422 with FastAPI's
      {"detail": [{loc, msg, type}]} on a missing or mistyped field;
      201 {node_id, node_token, control_plane_url}; a known name keeps
      its id (3.2).
  POST /api/v1/nodes/{id}/heartbeat   Bearer HS256 JWT {node_id,
      node_name, iat, exp, type: "node_agent"} (3.3); 401 "Missing
      authentication token" / "Invalid or expired token" with
      WWW-Authenticate: Bearer, 403 "Cannot send heartbeat for a
      different node", 404 "Node not found" (3.4); body {cpu_usage:
      float, mem_usage: float, disk_free_mb: int, running_containers:
      [str]}, each defaulted, mistyped -> 422; 200 {status, timestamp}.
  GET /health, GET /, GET /api/v1/nodes, GET /api/v1/nodes/{id}.

Test controls under /_mock/ (not part of the contract):
  GET  /_mock/requests     every request received: [{time, method, path,
                           headers, body, status}]
  GET  /_mock/tokens       every token issued
  POST /_mock/config       {"token_ttl": s, "fail_heartbeats": n (answer
                           500 to the next n), "reject_tokens": bool (401
                           every heartbeat), "heartbeat_422": bool,
                           "wrong_node": n (the next n heartbeats are
                           taken as another node's: 403)}
  POST /_mock/expire       every token issued so far expires now

Usage: miaas_cp.py --port N (0: any); prints PORT=<n> first.
"""
import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = b"mock-miaas-secret"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.nodes = {}          # id -> node dict
        self.requests = []
        self.tokens = []
        self.token_ttl = 24 * 3600
        self.fail_heartbeats = 0
        self.reject_tokens = False
        self.heartbeat_422 = False
        self.wrong_node = 0
        self.revoked = set()     # tokens /_mock/expire ended


STATE = State()


def jwt_make(node_id, name):
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({
        "node_id": node_id, "node_name": name, "iat": now,
        "exp": now + STATE.token_ttl, "type": "node_agent",
        "jti": uuid.uuid4().hex}).encode())
    sig = hmac.new(SECRET, (header + "." + payload).encode(),
                   hashlib.sha256).digest()
    return header + "." + payload + "." + b64url(sig)


def jwt_check(token):
    """The payload of a valid, unexpired token, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    want = hmac.new(SECRET, (parts[0] + "." + parts[1]).encode(),
                    hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(unb64url(parts[2]), want):
            return None
        payload = json.loads(unb64url(parts[1]))
    except (ValueError, TypeError):
        return None
    now = time.time()
    if payload.get("exp", 0) < now or token in STATE.revoked or \
            payload.get("type") != "node_agent":
        return None
    return payload


def missing(loc):
    return {"loc": ["body"] + loc, "msg": "field required",
            "type": "value_error.missing"}


def wrong(loc, kind):
    return {"loc": ["body"] + loc, "msg": "value is not a valid " + kind,
            "type": "type_error." + kind}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_float(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_register(body):
    errors = []
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "value is not a valid dict",
                 "type": "type_error.dict"}]
    for key in ("name", "ip"):
        if key not in body:
            errors.append(missing([key]))
        elif not isinstance(body[key], str):
            errors.append(wrong([key], "str"))
    caps = body.get("capabilities")
    if caps is None:
        errors.append(missing(["capabilities"]))
        return errors
    if not isinstance(caps, dict):
        return errors + [wrong(["capabilities"], "dict")]
    rules = (("os", str, True), ("cpu_count", int, True),
             ("mem_mb", int, True), ("gpus", list, False),
             ("disk_mb", int, False), ("docker", dict, False),
             ("k8s", dict, False))
    for key, kind, required in rules:
        if key not in caps:
            if required:
                errors.append(missing(["capabilities", key]))
            continue
        ok = is_int(caps[key]) if kind is int else \
            isinstance(caps[key], kind)
        if not ok:
            errors.append(wrong(["capabilities", key], kind.__name__))
    return errors


def check_heartbeat(body):
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "value is not a valid dict",
                 "type": "type_error.dict"}]
    errors = []
    for key, test, kind in (("cpu_usage", is_float, "float"),
                            ("mem_usage", is_float, "float"),
                            ("disk_free_mb", is_int, "integer")):
        if key in body and not test(body[key]):
            errors.append(wrong([key], kind))
    rc = body.get("running_containers", [])
    if not isinstance(rc, list) or not all(isinstance(x, str) for x in rc):
        errors.append(wrong(["running_containers"], "list"))
    return errors


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("miaas_cp: " + fmt % args + "\n")

    def reply(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.record["status"] = status

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return ValueError

    def handle_any(self, method):
        body = self.read_body() if method == "POST" else None
        self.record = {"time": time.time(), "method": method,
                       "path": self.path, "headers": dict(self.headers),
                       "body": None if body is ValueError else body,
                       "status": None}
        if not self.path.startswith("/_mock/"):
            with STATE.lock:
                STATE.requests.append(self.record)
        if body is ValueError:
            return self.reply(422, {"detail": [{
                "loc": ["body"], "msg": "JSON decode error",
                "type": "value_error.jsondecode"}]})
        route = (method, self.path.rstrip("/") or "/")
        parts = route[1].split("/")
        if route == ("GET", "/health"):
            return self.reply(200, {"status": "healthy"})
        if route == ("GET", "/"):
            return self.reply(200, {"message": "MIaaS Control Plane",
                                    "version": "0.1.0", "docs": "/docs"})
        if route == ("POST", "/api/v1/nodes/register"):
            return self.register(body)
        if route == ("GET", "/api/v1/nodes"):
            with STATE.lock:
                return self.reply(200, list(STATE.nodes.values()))
        if method == "GET" and len(parts) == 5 and parts[3] == "nodes":
            with STATE.lock:
                node = STATE.nodes.get(parts[4])
            if node is None:
                return self.reply(404, {"detail": "Node not found"})
            return self.reply(200, node)
        if method == "POST" and len(parts) == 6 and parts[3] == "nodes" \
                and parts[5] == "heartbeat":
            return self.heartbeat(parts[4], body)
        if self.path.startswith("/_mock/"):
            return self.mock(method, body)
        return self.reply(404, {"detail": "Not Found"})

    def register(self, body):
        errors = check_register(body)
        if errors:
            return self.reply(422, {"detail": errors})
        with STATE.lock:
            node = next((n for n in STATE.nodes.values()
                         if n["name"] == body["name"]), None)
            if node is None:
                node = {"id": str(uuid.uuid4()), "name": body["name"]}
                STATE.nodes[node["id"]] = node
            node.update({"ip": body["ip"],
                         "capabilities": body["capabilities"],
                         "status": "online", "last_seen": time.time()})
            token = jwt_make(node["id"], node["name"])
            STATE.tokens.append(token)
        return self.reply(201, {"node_id": node["id"], "node_token": token,
                                "control_plane_url":
                                "http://localhost:8080"})

    def heartbeat(self, node_id, body):
        auth = self.headers.get("Authorization", "")
        bearer = [("WWW-Authenticate", "Bearer")]
        if not auth.startswith("Bearer ") or not auth[7:]:
            return self.reply(401, {"detail": "Missing authentication "
                                    "token"}, bearer)
        payload = jwt_check(auth[7:])
        with STATE.lock:
            reject = STATE.reject_tokens
            fail = STATE.fail_heartbeats > 0
            if fail:
                STATE.fail_heartbeats -= 1
            invalid_body = STATE.heartbeat_422
            other = STATE.wrong_node > 0
            if other:
                STATE.wrong_node -= 1
        if payload is None or reject:
            return self.reply(401, {"detail": "Invalid or expired token"},
                              bearer)
        if payload["node_id"] != node_id or other:
            return self.reply(403, {"detail": "Cannot send heartbeat for "
                                    "a different node"})
        errors = check_heartbeat(body if body is not None else {})
        if invalid_body:
            errors = errors or [wrong(["cpu_usage"], "float")]
        if errors:
            return self.reply(422, {"detail": errors})
        if fail:
            return self.reply(500, {"detail": "Internal Server Error"})
        with STATE.lock:
            node = STATE.nodes.get(node_id)
            if node is None:
                return self.reply(404, {"detail": "Node not found"})
            node["last_seen"] = time.time()
            node["status"] = "online"
            node["capabilities"]["metrics"] = body
        return self.reply(200, {"status": "ok", "timestamp": time.time()})

    def mock(self, method, body):
        with STATE.lock:
            if (method, self.path) == ("GET", "/_mock/requests"):
                return self.reply(200, STATE.requests)
            if (method, self.path) == ("GET", "/_mock/tokens"):
                return self.reply(200, STATE.tokens)
            if (method, self.path) == ("POST", "/_mock/config"):
                for key in ("token_ttl", "fail_heartbeats",
                            "reject_tokens", "heartbeat_422", "wrong_node"):
                    if isinstance(body, dict) and key in body:
                        setattr(STATE, key, body[key])
                return self.reply(200, {"ok": True})
            if (method, self.path) == ("POST", "/_mock/expire"):
                STATE.revoked.update(STATE.tokens)
                return self.reply(200, {"ok": True})
        return self.reply(404, {"detail": "Not Found"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


def main():
    parser = argparse.ArgumentParser(description="mock MIaaS control plane")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("PORT=%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
