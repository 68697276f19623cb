"""A reference node for the native protocol, in Python.

The tests drive the server through this class, and check_task() states
in code what the C agent's runner must check before it acts on a task
(PROTOCOL.md section 5.3).  It is deliberately plain: one persistent
HTTP connection, no outbox, no retries; the C agent adds those.
"""

import http.client
import secrets
import ssl
import time
import urllib.parse

import ed25519
import schema
from wire import (b64url_decode, b64url_encode, dump_json,
                  format_signature_header, parse_json,
                  request_signing_bytes, task_signing_bytes)

AGENT_VERSION = "berth-cp-client 1"


class NodeError(Exception):
    """A non-2xx answer; code is the protocol's error code."""

    def __init__(self, status, answer, headers):
        error = (answer or {}).get("error", {}) if isinstance(answer, dict) \
            else {}
        self.status = status
        self.code = error.get("code")
        self.error = error
        self.headers = headers
        super().__init__("%d %s: %s" % (status, self.code,
                                         error.get("message")))


def sign_request(seed, method, target, body, timestamp=None, nonce=None):
    """The Berth-Signature value for one request."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or b64url_encode(secrets.token_bytes(16))
    message = request_signing_bytes(method, target, timestamp, nonce, body)
    return format_signature_header(
        timestamp, nonce, ed25519.SigningKey(seed).sign(message))


def sample_capabilities():
    return {"os": "linux", "kernel": "6.1.0-test", "arch": "x86_64",
            "cpu_count": 4, "memory_bytes": 8 << 30, "disk_bytes": 100 << 30,
            "docker_version": "24.0.7",
            "gpus": [{"name": "Example GPU", "memory_bytes": 16 << 30,
                      "uuid": "GPU-00000000-0000-0000-0000-000000000000"}]}


def sample_heartbeat(tasks_running=()):
    return {
        "time": int(time.time()),
        "agent_version": AGENT_VERSION,
        "metrics": {
            "cpu_percent": 12.5, "memory_used_bytes": 2 << 30,
            "memory_total_bytes": 8 << 30, "disk_free_bytes": 60 << 30,
            "disk_total_bytes": 100 << 30, "load1": 0.5, "load5": 0.4,
            "load15": 0.3, "containers_running": 2, "containers_total": 3,
            "capacity": {"containers_left": 48, "cpu_percent_left": 77.5,
                         "memory_bytes_left": 5 << 30}},
        "capabilities": sample_capabilities(),
        "binary_sha256": "ab" * 32,
        "policy_hash": "cd" * 32,
        "audit_head": {"records": 0, "sha256": "0" * 64},
        "tasks_running": list(tasks_running),
    }


class NodeClient:
    """One node: its key, its credential, one connection."""

    def __init__(self, base_url, ssl_context=None, timeout=90):
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https"):
            raise ValueError("base URL must be http or https")
        self.scheme, self.host, self.port = url.scheme, url.hostname, url.port
        self.prefix = url.path.rstrip("/")
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.conn = None
        self.seed = secrets.token_bytes(32)
        self.node_id = None
        self.credential = None
        self.task_key = None
        self.tasks_signed = False

    @property
    def public_key(self):
        return ed25519.public_key_from_seed(self.seed)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connection(self):
        if self.conn is None:
            if self.scheme == "https":
                self.conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout,
                    context=self.ssl_context or ssl.create_default_context())
            else:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
        return self.conn

    def request(self, method, path, body=None, *, raw=None, sign=True,
                auth=True, timestamp=None, nonce=None, headers=None):
        """(status, parsed answer, headers) of one request.

        path is below the base URL ("/v1/enrol").  body is a JSON value,
        or raw gives the exact bytes.  The keyword switches exist so that
        tests can send what a broken or hostile node would.
        """
        target = self.prefix + path
        data = raw if raw is not None else (
            dump_json(body) if body is not None else b"")
        send = {}
        if data or method == "POST":
            send["Content-Type"] = "application/json"
        if auth and self.credential:
            send["Authorization"] = "Bearer " + self.credential
        if sign:
            send["Berth-Signature"] = sign_request(
                self.seed, method, target, data, timestamp, nonce)
        send.update(headers or {})
        conn = self._connection()
        try:
            conn.request(method, target, body=data if (data or method ==
                                                       "POST") else None,
                         headers=send)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        answer = parse_json(payload) if payload else None
        return response.status, answer, response.headers

    def call(self, method, path, body=None, **kw):
        """The answer of a request that must succeed; else NodeError."""
        status, answer, headers = self.request(method, path, body, **kw)
        if not 200 <= status < 300:
            raise NodeError(status, answer, headers)
        return answer

    def enrol(self, token, name="test-node", capabilities=None):
        answer = self.call("POST", "/v1/enrol", {
            "token": token, "name": name,
            "public_key": b64url_encode(self.public_key),
            "capabilities": capabilities or sample_capabilities(),
            "agent_version": AGENT_VERSION}, auth=False)
        self.node_id = answer["node_id"]
        self.credential = answer["credential"]
        self.task_key = b64url_decode(answer["task_signing_key"], size=32)
        self.tasks_signed = answer["tasks_signed"]
        return answer

    def heartbeat(self, body=None, tasks_running=()):
        return self.call("POST", "/v1/nodes/%s/heartbeat" % self.node_id,
                         body or sample_heartbeat(tasks_running))

    def poll(self, wait=0, after_seq=0):
        return self.call("GET", "/v1/nodes/%s/tasks?wait=%d&after_seq=%d"
                         % (self.node_id, wait, after_seq))

    def accept(self, task_id):
        return self.call("POST", "/v1/nodes/%s/tasks/%s/accept"
                         % (self.node_id, task_id), {})

    def events(self, task_id, events):
        return self.call("POST", "/v1/nodes/%s/tasks/%s/events"
                         % (self.node_id, task_id), {"events": events})

    def log(self, task_id, seq, offset, data, stream="stdout"):
        return self.call("POST", "/v1/nodes/%s/tasks/%s/logs"
                         % (self.node_id, task_id),
                         {"seq": seq, "offset": offset, "stream": stream,
                          "data": b64url_encode(data)})


def check_task(task, node_id, task_key, *, require_signed, high_seq,
               journal, now=None):
    """Why a delivered task must be refused, or None to go ahead.

    The order matters and is the one PROTOCOL.md 5.3 gives: shape first
    (a task that does not parse is never looked at further), then the
    signature (nothing unsigned is trusted when signatures are
    required), then the fields the signature binds: node, expiry, seq.
    journal maps task ids the node has already journalled to their seq;
    a redelivery of one of those is not a replay.
    """
    now = int(time.time()) if now is None else now
    try:
        schema.check(schema.TASK, task)
    except schema.FieldError as e:
        return "malformed: %s" % e
    if "signature" in task:
        try:
            signature = b64url_decode(task["signature"], size=64)
        except ValueError:
            return "signature: not base64url"
        if not ed25519.verify(task_key, task_signing_bytes(task), signature):
            return "signature: does not verify"
    elif require_signed:
        return "signature: missing"
    if task["node_id"] != node_id:
        return "node: for %s" % task["node_id"]
    if task["not_after"] < now:
        return "expired"
    if task["id"] in journal:
        if journal[task["id"]] != task["seq"]:
            return "replay: seq changed for a known task"
        return None
    if task["seq"] <= high_seq:
        return "replay: seq %d <= %d" % (task["seq"], high_seq)
    return None


__all__ = ["NodeClient", "NodeError", "check_task", "sample_heartbeat",
           "sample_capabilities", "sign_request"]
