#!/usr/bin/env python3
"""Tests of the SkyPanel mock control planes (skypanel_cp.py, seed 000, and
skypanel_v2_cp.py, seed 001).

Each mock runs as a subprocess on 127.0.0.1 with --port 0; the tests play
the agent with good and bad requests and check the answers and the
validation errors the mock recorded against CONTRACTS.md sections 1 and 2.

Run:  python3 tests/mock/test_mocks.py [-v]     (or tests/mock/run)
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SKYPANEL = os.path.join(HERE, "skypanel_cp.py")
SKYPANEL_V2 = os.path.join(HERE, "skypanel_v2_cp.py")
START_TIMEOUT = 20


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(payload, secret, alg="HS256", key=None):
    """An HS JWT as jsonwebtoken signs it: the key is the secret string."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}.get(alg, hashlib.sha256)
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    sig = hmac.new(key if key is not None else secret.encode(),
                   (head + "." + body).encode(), digest).digest()
    return head + "." + body + "." + b64url(sig)


class Mock:
    """One mock control plane as a child process."""

    def __init__(self, script, *args):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-B", script, "--port", "0"] + list(args),
            stdout=subprocess.PIPE, stderr=self.stderr)
        deadline = time.time() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.time()
            ready = select.select([self.proc.stdout], [], [], max(left, 0))[0]
            if not ready:
                self.stop()
                raise RuntimeError("%s printed no PORT line" % script)
            chunk = os.read(self.proc.stdout.fileno(), 1)
            if not chunk:
                self.stop()
                raise RuntimeError("%s exited: %s" % (script, self.log()))
            line += chunk
        assert line.startswith(b"PORT="), line
        self.port = int(line[5:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read().decode()

    def call(self, method, path, body=None, token=None, raw=None,
             ctype="application/json", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        hdrs = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
        if raw is not None:
            data = raw
        if data is not None and ctype:
            hdrs["Content-Type"] = ctype
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read()
        finally:
            conn.close()
        try:
            obj = json.loads(text)
        except ValueError:
            obj = text.decode()
        return resp.status, obj

    def admin(self, method, path, body=None):
        status, obj = self.call(method, "/_mock/" + path, body)
        if not 200 <= status < 300:
            raise AssertionError("admin %s %s: %s %s" % (method, path,
                                                         status, obj))
        return obj

    def errors(self):
        return self.admin("GET", "errors")


class MockCase(unittest.TestCase):
    SCRIPT = None
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.state_dir = tempfile.TemporaryDirectory()
        cls.state_file = os.path.join(cls.state_dir.name, "state.json")
        cls.mock = Mock(cls.SCRIPT, "--state", cls.state_file, *cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()
        cls.state_dir.cleanup()

    def setUp(self):
        self.mock.admin("POST", "reset")

    def tearDown(self):
        bugs = [e for e in self.mock.errors() if e["rule"] == "mock-bug"]
        self.assertEqual(bugs, [], "the mock itself failed")

    def call(self, *args, **kwargs):
        return self.mock.call(*args, **kwargs)

    def assertNoErrors(self):
        errors = self.mock.errors()
        self.assertEqual(errors, [], "validation errors: %s"
                         % json.dumps(errors, indent=1))

    def assertError(self, rule, field=None, status=None):
        """Some recorded error has this rule (and field, and status)."""
        errors = self.mock.errors()
        for e in errors:
            if e["rule"] == rule and (field is None or e["field"] == field) \
                    and (status is None or e["status"] == status):
                return e
        self.fail("no %s error on %s (status %s) among %s" % (
            rule, field, status, json.dumps(errors, indent=1)))

    def clear(self):
        self.mock.admin("POST", "clear")


# -- seed 000: SkyPanel PaaS --------------------------------------------------

REG_PATH = "/api/paas/internal/nodes/register"
TOKEN = "mock-registration-token"


def reg_body(**changes):
    body = {"registration_token": TOKEN, "name": "worker-1",
            "region": "us-east", "cpu_total": 100, "memory_total": 8192,
            "disk_total": 102400}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not Ellipsis}


def hb_body(**changes):
    body = {"cpu_used": 12, "memory_used": 25, "disk_used": 50,
            "container_count": 2, "cpu_total": 100, "memory_total": 8,
            "disk_total": 100,
            "status": "online", "cpuUsagePercent": 12.4,
            "memoryUsedMB": 2048, "memoryTotalMB": 8192,
            "diskUsedMB": 51200, "diskTotalMB": 102400, "containerCount": 2,
            "containers": [
                {"containerId": "c0ffee", "applicationId": 7,
                 "status": "running", "cpuUsagePercent": 3.5,
                 "memoryUsedMB": 120, "restartCount": 0},
                {"containerId": "beef", "applicationId": None,
                 "status": "running", "cpuUsagePercent": 0,
                 "memoryUsedMB": 30, "restartCount": 1}]}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not Ellipsis}


DEPLOY_OUTPUT = {"containerId": "3f2a9c", "hostPort": 49153,
                 "commitSha": "a" * 40, "commitMessage": "initial",
                 "buildLogs": "Step 1/5 : FROM node:20-alpine\n"}


class TestSkyPanel(MockCase):
    SCRIPT = SKYPANEL

    def register(self, **changes):
        status, obj = self.call("POST", REG_PATH, reg_body(**changes))
        self.assertEqual(status, 200, obj)
        node_id = obj["node_id"] if "node_id" in obj else obj["node"]["id"]
        return node_id, obj["jwt_secret"]

    def jwt(self, node_id, secret, ttl=300, **extra):
        now = int(time.time())
        payload = {"nodeId": node_id, "iat": now, "exp": now + ttl}
        payload.update(extra)
        return mint(payload, secret)

    def hb(self, node_id, token, body=None):
        return self.call("POST", "/api/paas/internal/nodes/%s/heartbeat"
                         % node_id, hb_body() if body is None else body,
                         token=token)

    def poll(self, node_id, token):
        return self.call("GET", "/api/paas/internal/nodes/%s/tasks" % node_id,
                         token=token)

    def put_status(self, task_id, token, status, output=None,
                   message="Task started", **extra):
        body = {"status": status, "output": output, "message": message}
        body.update(extra)
        return self.call("PUT", "/api/paas/internal/tasks/%s/status"
                         % task_id, body, token=token)

    def queue(self, **spec):
        return self.mock.admin("POST", "tasks", spec)[0]

    # registration, 1.2

    def test_register_without_totals_is_400(self):
        status, obj = self.call("POST", REG_PATH, {
            "registration_token": TOKEN, "name": "w", "region": "r"})
        self.assertEqual(status, 400)
        self.assertEqual(obj, {"success": False,
                               "error": "Missing required fields"})
        fields = {e["field"] for e in self.mock.errors()}
        self.assertEqual(fields, {"cpu_total", "memory_total", "disk_total"})

    def test_register_falsy_values_are_missing(self):
        for change in ({"cpu_total": 0}, {"memory_total": ""},
                       {"disk_total": None}, {"registration_token": ""}):
            status, obj = self.call("POST", REG_PATH, reg_body(**change))
            self.assertEqual((status, obj["error"]),
                             (400, "Missing required fields"), change)

    def test_register_needs_name_and_region(self):
        status, _ = self.call("POST", REG_PATH, reg_body(region=...))
        self.assertEqual(status, 400)
        self.assertError("required", "region", 400)
        self.mock.admin("POST", "config", {"require_name_region": False})
        self.clear()
        status, _ = self.call("POST", REG_PATH, reg_body(name=..., region=...))
        self.assertEqual(status, 200)
        self.assertNoErrors()

    def test_register_token_must_match_a_pending_node(self):
        status, obj = self.call("POST", REG_PATH,
                                reg_body(registration_token="nope"))
        self.assertEqual((status, obj), (404, {
            "success": False, "error": "Invalid registration token"}))
        self.clear()
        node_id, secret = self.register()
        self.assertEqual(node_id, 1)
        self.assertEqual(len(secret), 128)
        int(secret, 16)
        self.assertNoErrors()
        status, _ = self.call("POST", REG_PATH, reg_body())   # used up
        self.assertEqual(status, 404)

    def test_register_answer_shapes(self):
        for shape, keys in (("node_id", {"success", "node_id", "jwt_secret"}),
                            ("node", {"success", "node", "jwt_secret"}),
                            ("both", {"success", "node_id", "node",
                                      "jwt_secret"})):
            self.mock.admin("POST", "reset")
            self.mock.admin("POST", "config", {"register_shape": shape})
            status, obj = self.call("POST", REG_PATH, reg_body())
            self.assertEqual(status, 200)
            self.assertEqual(set(obj), keys, shape)
            if "node" in obj:
                self.assertEqual(obj["node"], {"id": 1})

    def test_register_wrong_types_and_units(self):
        status, obj = self.call("POST", REG_PATH,
                                reg_body(memory_total="lots"))
        self.assertEqual((status, obj["error"]),
                         (500, "Failed to register node"))
        self.assertError("type", "memory_total", 500)
        self.mock.admin("POST", "reset")
        status, _ = self.call("POST", REG_PATH,
                              reg_body(memory_total=16, disk_total=200))
        self.assertEqual(status, 200)           # the server takes GB too
        self.assertError("units", "memory_total", 200)
        self.assertError("units", "disk_total", 200)

    def test_express_json_rules(self):
        status, _ = self.call("POST", REG_PATH, reg_body(), ctype="text/plain")
        self.assertEqual(status, 400)           # the route saw {}
        self.assertError("content-type", None, 400)
        self.clear()
        status, obj = self.call("POST", REG_PATH, raw=b"{nope")
        self.assertEqual(status, 400)
        self.assertError("json")
        self.clear()
        status, _ = self.call("POST", REG_PATH, raw=b'"a string"')
        self.assertEqual(status, 400)
        self.clear()
        status, _ = self.call("POST", REG_PATH,
                              raw=b'{"cpu_total": NaN}')
        self.assertEqual(status, 400)
        self.clear()
        big = reg_body(name="x" * (101 * 1024))
        status, _ = self.call("POST", REG_PATH, big)
        self.assertEqual(status, 413)
        self.assertError("body-size")

    def test_unknown_route_is_expresss_404(self):
        status, text = self.call("GET", "/api/paas/internal/nodes")
        self.assertEqual(status, 404)
        self.assertIn("Cannot GET /api/paas/internal/nodes", text)
        self.assertError("route")

    # authentication, 1.3

    def test_heartbeat_with_good_jwt_and_superset_body(self):
        node_id, secret = self.register()
        status, obj = self.hb(node_id, self.jwt(node_id, secret))
        self.assertEqual((status, obj), (200, {"success": True}))
        self.assertNoErrors()
        node = self.mock.admin("GET", "nodes/%d" % node_id)
        self.assertEqual(node["memory_total"], 8192)
        self.assertEqual(node["container_count"], 2)
        self.assertEqual(node["status"], "online")

    def test_raw_secret_is_401(self):
        node_id, secret = self.register()
        status, obj = self.hb(node_id, secret)
        self.assertEqual((status, obj), (401, {"success": False,
                                               "error": "Invalid token"}))
        self.assertIn("raw jwt_secret", self.assertError("auth")["message"])

    def test_auth_mode_raw_and_either(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        self.mock.admin("POST", "config", {"auth_mode": "raw"})
        self.assertEqual(self.hb(node_id, secret)[0], 200)
        self.assertEqual(self.hb(node_id, token)[0], 401)
        self.mock.admin("POST", "config", {"auth_mode": "either"})
        self.assertEqual(self.hb(node_id, secret)[0], 200)
        self.assertEqual(self.hb(node_id, token)[0], 200)

    def test_missing_authorization_is_401(self):
        node_id, secret = self.register()
        status, obj = self.hb(node_id, None)
        self.assertEqual((status, obj["error"]),
                         (401, "Missing authorization"))
        status, obj = self.call(
            "POST", "/api/paas/internal/nodes/1/heartbeat", hb_body(),
            headers={"Authorization": "Token " + self.jwt(node_id, secret)})
        self.assertEqual((status, obj["error"]),
                         (401, "Missing authorization"))

    def test_unknown_node_is_404_before_auth(self):
        node_id, secret = self.register()
        for path_id, token in (("99", self.jwt(99, secret)), ("42", None)):
            status, obj = self.hb(path_id, token)
            self.assertEqual((status, obj), (404, {
                "success": False, "error": "Node not found"}))
        status, obj = self.poll(99, self.jwt(99, secret))
        self.assertEqual(status, 404)
        status, obj = self.hb("abc", self.jwt(node_id, secret))
        self.assertEqual((status, obj["error"]),
                         (500, "Failed to process heartbeat"))

    def test_jwt_checks_as_jsonwebtoken_does(self):
        node_id, secret = self.register()
        now = int(time.time())
        bad = {
            "expired": mint({"nodeId": node_id, "exp": now - 1}, secret),
            "other node": mint({"nodeId": node_id + 1}, secret),
            "string claim": mint({"nodeId": str(node_id)}, secret),
            "no claim": mint({"node_id": node_id}, secret),
            "wrong key": mint({"nodeId": node_id}, "x" * 128),
            "hex-decoded key": mint({"nodeId": node_id}, secret,
                                    key=bytes.fromhex(secret)),
            "not yet": mint({"nodeId": node_id, "nbf": now + 3600}, secret),
            "bad exp": mint({"nodeId": node_id, "exp": "soon"}, secret),
            "alg none": b64url(b'{"alg":"none"}') + "." + b64url(
                json.dumps({"nodeId": node_id}).encode()) + ".",
            "two parts": "a.b",
            "not ascii": "\u00e9.\u00e9.\u00e9",
            "garbage": "!!.??.**",
        }
        for name, token in bad.items():
            status, obj = self.hb(node_id, token)
            self.assertEqual((status, obj["error"]), (401, "Invalid token"),
                             name)
        self.assertEqual(len([e for e in self.mock.errors()
                              if e["rule"] == "auth"]), len(bad))
        self.clear()
        good = [mint({"nodeId": node_id}, secret),          # exp optional
                mint({"nodeId": node_id, "exp": now + 60}, secret, "HS512"),
                mint({"nodeId": node_id, "iat": now, "exp": now + 60},
                     secret, "HS384")]
        for token in good:
            self.assertEqual(self.hb(node_id, token)[0], 200)
        self.assertNoErrors()

    def test_injected_expiry(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret, ttl=60)
        self.mock.admin("POST", "config", {"clock_offset": 120})
        self.assertEqual(self.hb(node_id, token)[0], 401)
        self.assertIn("expired", self.assertError("auth")["message"])
        self.mock.admin("POST", "config", {"clock_offset": 0})
        self.clear()
        self.mock.admin("POST", "expire")
        self.assertEqual(self.hb(node_id, token)[0], 401)
        self.assertError("auth-expired")
        fresh = self.jwt(node_id, secret, iat=int(time.time()) + 2)
        self.assertEqual(self.hb(node_id, fresh)[0], 200)

    def test_admin_jwt_helper(self):
        node_id, _secret = self.register()
        token = self.mock.admin("POST", "jwt", {"node_id": node_id})["token"]
        self.assertEqual(self.hb(node_id, token)[0], 200)

    # heartbeat body, 1.4

    def test_heartbeat_snake_only_is_accepted_but_recorded(self):
        node_id, secret = self.register()
        snake = {k: v for k, v in hb_body().items()
                 if k.islower() and k != "status"}
        status, _ = self.hb(node_id, self.jwt(node_id, secret), snake)
        self.assertEqual(status, 200)
        missing = {e["field"] for e in self.mock.errors()
                   if e["rule"] == "superset"}
        self.assertEqual(missing, {"status", "cpuUsagePercent",
                                   "memoryUsedMB", "memoryTotalMB",
                                   "diskUsedMB", "diskTotalMB",
                                   "containerCount"})
        node = self.mock.admin("GET", "nodes/%d" % node_id)
        self.assertIsNone(node["memory_total"])     # NULL, as the server does

    def test_heartbeat_camel_only_is_recorded(self):
        node_id, secret = self.register()
        camel = {k: v for k, v in hb_body().items() if not k.islower()
                 or k in ("status", "containers")}
        self.assertEqual(self.hb(node_id, self.jwt(node_id, secret),
                                 camel)[0], 200)
        missing = {e["field"] for e in self.mock.errors()}
        self.assertEqual(missing, {"cpu_used", "memory_used", "disk_used",
                                   "container_count", "cpu_total",
                                   "memory_total", "disk_total"})

    def test_heartbeat_types_and_units(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        status, obj = self.hb(node_id, token, hb_body(memoryUsedMB="2 GB"))
        self.assertEqual((status, obj["error"]),
                         (500, "Failed to process heartbeat"))
        self.assertError("type", "memoryUsedMB", 500)
        self.clear()
        # totals sent as MB in the snake_case keys (they are GB there)
        status, _ = self.hb(node_id, token, hb_body(memory_total=8192,
                                                    disk_total=102400))
        self.assertEqual(status, 200)
        self.assertError("units", "memory_total")
        self.assertError("units", "disk_total")
        self.clear()
        status, _ = self.hb(node_id, token, hb_body(memory_used=2048,
                                                    cpu_total=4))
        self.assertError("range", "memory_used")
        self.assertError("range", "cpu_total")
        self.clear()
        status, _ = self.hb(node_id, token, hb_body(memoryTotalMB=4096,
                                                    memory_total=4))
        self.assertError("units", "memoryTotalMB")   # registered 8192 MB
        self.clear()
        status, _ = self.hb(node_id, token, hb_body(status="busy"))
        self.assertEqual(status, 200)
        self.assertError("value", "status")

    def test_heartbeat_container_entries(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        body = hb_body()
        del body["containers"][0]["restartCount"]
        self.assertEqual(self.hb(node_id, token, body)[0], 200)
        self.assertError("required", "restartCount")
        self.clear()
        body = hb_body()
        body["containers"][1]["applicationId"] = "seven"
        self.assertEqual(self.hb(node_id, token, body)[0], 500)
        self.assertError("type", "applicationId")
        self.clear()
        self.assertEqual(self.hb(node_id, token,
                                 hb_body(containers={"a": 1}))[0], 500)

    # tasks, 1.5

    def test_poll_order_and_redelivery(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        low = self.queue(task_type="restart", application_id=5, priority=5)
        high = self.queue(task_type="deploy", application_id=7, priority=1)
        status, obj = self.poll(node_id, token)
        self.assertEqual(status, 200)
        self.assertTrue(obj["success"])
        self.assertEqual([t["id"] for t in obj["tasks"]],
                         [high["id"], low["id"]])
        deploy = obj["tasks"][0]
        self.assertEqual(set(deploy), {"id", "task_type", "application_id",
                                       "task_data"})
        self.assertEqual(deploy["task_data"]["cpu_limit"], 1000)
        self.assertEqual(obj["tasks"][1]["task_data"], {})
        # polling marks nothing as sent: the same pending tasks come again
        self.assertEqual(self.poll(node_id, token)[1], obj)
        self.assertEqual(self.put_status(high["id"], token, "running")[0], 200)
        ids = [t["id"] for t in self.poll(node_id, token)[1]["tasks"]]
        self.assertEqual(ids, [low["id"]])
        self.assertNoErrors()

    def test_redeliver_after_running(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        task = self.queue(task_type="stop", application_id=3, redeliver=1)
        self.put_status(task["id"], token, "running")
        self.assertEqual(len(self.poll(node_id, token)[1]["tasks"]), 1)
        self.assertEqual(len(self.poll(node_id, token)[1]["tasks"]), 0)
        # running it twice is what berth must not do
        self.put_status(task["id"], token, "running")
        self.assertError("duplicate", "status", 200)

    def test_poll_limit_and_extra_fields(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        for i in range(12):
            self.queue(task_type="start", application_id=i)
        self.queue(task_type="backup", resource_type="database",
                   database_id=9, priority=-1)
        tasks = self.poll(node_id, token)[1]["tasks"]
        self.assertEqual(len(tasks), 10)
        self.assertEqual(tasks[0]["resource_type"], "database")
        self.assertEqual(tasks[0]["database_id"], 9)
        other = self.mock.admin("POST", "nodes", {})
        self.assertEqual(self.poll(other["id"], token)[0], 401)

    def test_deploy_status_flow(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        task = self.queue(task_type="deploy", application_id=7)
        status, obj = self.put_status(task["id"], token, "running")
        self.assertEqual((status, obj), (200, {"success": True}))
        status, _ = self.put_status(task["id"], token, "completed",
                                    DEPLOY_OUTPUT,
                                    "Task completed successfully")
        self.assertEqual(status, 200)
        self.assertNoErrors()
        stored = self.mock.admin("GET", "tasks/%d" % task["id"])
        self.assertEqual(stored["status"], "completed")
        self.assertEqual(stored["result"]["hostPort"], 49153)
        self.assertEqual(stored["result"]["message"],
                         "Task completed successfully")
        self.assertIsNotNone(stored["completed_at"])
        self.assertEqual([u["status"] for u in stored["updates"]],
                         ["running", "completed"])

    def test_failed_flow(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        task = self.queue(task_type="deploy", application_id=7)
        self.put_status(task["id"], token, "running")
        status, _ = self.put_status(task["id"], token, "failed", None,
                                    "git clone failed")
        self.assertEqual(status, 200)
        self.assertNoErrors()
        self.put_status(task["id"], token, "completed", DEPLOY_OUTPUT, "x")
        self.assertError("sequence", "status")

    def test_status_refusals(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        task = self.queue(task_type="restart", application_id=1)
        status, obj = self.call("PUT", "/api/paas/internal/tasks/%d/status"
                                % task["id"], {"output": None}, token=token)
        self.assertEqual((status, obj), (400, {"success": False,
                                               "error": "Status is required"}))
        status, obj = self.put_status(999, token, "running")
        self.assertEqual((status, obj["error"]), (404, "Task not found"))
        other = self.mock.admin("POST", "nodes", {"status": "online",
                                                  "jwt_secret": "s" * 128})
        status, _ = self.put_status(task["id"], self.jwt(other["id"],
                                                         "s" * 128), "running")
        self.assertEqual(status, 401)       # not the node that owns it
        status, _ = self.put_status(task["id"], secret, "running")
        self.assertEqual(status, 401)
        self.mock.admin("DELETE", "nodes/%d" % node_id)
        status, obj = self.put_status(task["id"], token, "running")
        self.assertEqual((status, obj["error"]), (404, "Node not found"))

    def test_status_content_rules(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        task = self.queue(task_type="deploy", application_id=7)
        # completed without running, output lacking fields
        output = dict(DEPLOY_OUTPUT, hostPort="49153")
        del output["buildLogs"]
        status, _ = self.put_status(task["id"], token, "completed", output,
                                    "done")
        self.assertEqual(status, 200)
        self.assertError("sequence", "status")
        self.assertError("output", "hostPort")
        self.assertError("output", "buildLogs")
        self.clear()
        scale = self.queue(task_type="scale", application_id=7)
        self.put_status(scale["id"], token, "running")
        status, obj = self.put_status(scale["id"], token, "completed",
                                      "Scaling queued (not implemented)",
                                      "ok")
        self.assertEqual((status, obj["error"]),
                         (500, "Failed to update task status"))
        self.assertError("output", "output", 500)
        self.clear()
        other = self.queue(task_type="stop", application_id=7)
        self.put_status(other["id"], token, "running")
        self.call("PUT", "/api/paas/internal/tasks/%d/status" % other["id"],
                  {"status": "failed"}, token=token)
        self.assertError("required", "message")
        self.assertError("message", "message")
        self.clear()
        weird = self.queue(task_type="mystery")
        self.put_status(weird["id"], token, "in_progress")
        self.assertError("value", "status")
        self.put_status(weird["id"], token, "completed", None, "ok")
        self.assertError("task-type")

    # the test controls

    def test_fail_injection(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        self.mock.admin("POST", "fail", {"route": "heartbeat", "status": 500,
                                         "count": 2})
        for _ in range(2):
            status, obj = self.hb(node_id, token)
            self.assertEqual((status, obj["error"]),
                             (500, "Failed to process heartbeat"))
        self.assertEqual(self.hb(node_id, token)[0], 200)
        self.mock.admin("POST", "fail", {"route": "tasks", "status": 503,
                                         "body": {"custom": 1}})
        self.assertEqual(self.poll(node_id, token), (503, {"custom": 1}))
        self.mock.admin("POST", "fail", {"route": "tasks", "drop": True})
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.poll(node_id, token)
        self.mock.admin("POST", "fail", {"route": "tasks", "delay": 0.3})
        started = time.time()
        self.assertEqual(self.poll(node_id, token)[0], 200)
        self.assertGreaterEqual(time.time() - started, 0.3)
        status, obj = self.call("POST", "/_mock/fail", {"route": "nope",
                                                        "status": 500})
        self.assertEqual(status, 400)
        self.assertEqual(self.call("GET", "/_mock/errors?since=x")[0], 400)
        self.assertEqual(self.call("POST", "/_mock/nodes/1", [1])[0], 400)

    def test_requests_readback(self):
        node_id, secret = self.register()
        token = self.jwt(node_id, secret)
        self.hb(node_id, token)
        requests = self.mock.admin("GET", "requests")
        self.assertEqual([r["route"] for r in requests],
                         ["register", "heartbeat"])
        hb = requests[1]
        self.assertEqual(hb["method"], "POST")
        self.assertEqual(hb["path"], "/api/paas/internal/nodes/1/heartbeat")
        self.assertEqual(hb["headers"]["authorization"], "Bearer " + token)
        self.assertEqual(hb["body"], hb_body())
        self.assertEqual(hb["status"], 200)
        only = self.mock.admin("GET", "requests?route=heartbeat")
        self.assertEqual(len(only), 1)
        since = self.mock.admin("GET", "requests?since=1")
        self.assertEqual(len(since), 1)

    def test_wait(self):
        started = time.time()
        got = self.mock.admin("GET",
                              "wait?route=heartbeat&count=1&timeout=0.2")
        self.assertFalse(got["ok"])
        self.assertGreaterEqual(time.time() - started, 0.2)
        self.register()
        got = self.mock.admin("GET", "wait?route=register&timeout=5")
        self.assertTrue(got["ok"])
        self.assertEqual(got["requests"][0]["status"], 200)

    def test_state_file_and_config(self):
        self.register()
        with open(self.state_file) as f:
            state = json.load(f)
        self.assertEqual(state["requests"][0]["route"], "register")
        self.assertEqual(state["state"]["nodes"][0]["status"], "online")
        status, _ = self.call("POST", "/_mock/config", {"bogus": 1})
        self.assertEqual(status, 400)
        status, _ = self.call("POST", "/_mock/config",
                              {"register_shape": "weird"})
        self.assertEqual(status, 400)
        self.assertEqual(self.mock.admin("GET", "config")["register_shape"],
                         "node_id")

    def test_admin_node_creation_route(self):
        status, obj = self.call("POST", "/api/paas/admin/nodes",
                                {"name": "n2", "region": "eu"})
        self.assertEqual(status, 401)
        status, obj = self.call("POST", "/api/paas/admin/nodes",
                                {"name": "n2", "region": "eu"},
                                token="mock-admin-token")
        self.assertEqual(status, 201)
        token = obj["registration_token"]
        self.assertEqual(len(token), 64)
        self.assertIn("REGISTRATION_TOKEN=" + token, obj["install_script"])
        node_id, _ = self.register(registration_token=token)
        self.assertEqual(node_id, obj["node"]["id"])

    def test_log_line_per_request(self):
        self.register()
        self.call("GET", "/nowhere")
        deadline = time.time() + 5
        while time.time() < deadline and "/nowhere" not in self.mock.log():
            time.sleep(0.02)
        lines = [l for l in self.mock.log().splitlines()
                 if "/nowhere" in l or "/register" in l]
        self.assertIn("skypanel_cp: POST /api/paas/internal/nodes/register "
                      "-> 200", lines)
        self.assertTrue(any("-> 404 [1 validation error: route" in l
                            for l in lines), lines)


# -- seed 001: SkyPanelV2 worker ----------------------------------------------

W = "/api/paas/worker"


def v2_reg_body(**changes):
    body = {"name": "worker-build-01", "hostname": "build-01",
            "ipAddress": "127.0.0.1", "port": 3001,
            "capabilities": {"nodejs": True, "docker": True, "git": True},
            "maxConcurrentBuilds": 3,
            "resourceLimits": {"buildTimeoutMinutes": 15,
                               "workspaceDir": "/tmp/skypanel-builds"},
            "systemInfo": {"platform": "linux", "arch": "x64",
                           "nodeVersion": "berth", "cpuCount": 4,
                           "totalMemory": 8 << 30, "freeMemory": 3 << 30,
                           "uptime": 3600.5, "loadAverage": [0.5, 0.4, 0.3],
                           "hostname": "build-01",
                           "networkInterfaces": {"lo": []}}}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not Ellipsis}


def iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class TestSkyPanelV2(MockCase):
    SCRIPT = SKYPANEL_V2

    def register(self, **changes):
        status, obj = self.call("POST", W + "/register",
                                v2_reg_body(**changes))
        self.assertEqual(status, 201, obj)
        creds = obj.get("data", obj)
        return creds["nodeId"], creds["authToken"]

    def heartbeat(self, node_id, token, **extra):
        body = {"nodeId": node_id, "timestamp": iso()}
        body.update(extra)
        return self.call("POST", W + "/heartbeat", body, token=token)

    def queue(self, **spec):
        return self.mock.admin("POST", "builds", spec)[0]

    def post(self, dep_id, what, token, body):
        return self.call("POST", W + "/builds/%s/%s" % (dep_id, what), body,
                         token=token)

    def test_health(self):
        self.assertEqual(self.call("GET", "/api/health")[0], 200)
        status, obj = self.call("GET", W + "/health")
        self.assertEqual(status, 200)
        self.assertEqual(obj["data"]["status"], "healthy")
        self.assertEqual(obj["data"]["version"], "1.0.0")
        self.mock.admin("POST", "fail", {"route": "health", "status": 503,
                                         "count": 2})
        self.assertEqual([self.call("GET", "/api/health")[0]
                          for _ in range(3)], [503, 503, 200])
        self.assertNoErrors()

    def test_register(self):
        status, obj = self.call("POST", W + "/register",
                                v2_reg_body(ipAddress=""))
        self.assertEqual((status, obj), (400, {
            "success": False,
            "error": "Missing required fields: name, hostname, ipAddress"}))
        self.clear()
        status, obj = self.call("POST", W + "/register", v2_reg_body())
        self.assertEqual(status, 201)
        self.assertEqual(obj["message"], "Worker node registered successfully")
        self.assertEqual(set(obj["data"]), {"nodeId", "authToken"})
        self.assertRegex(obj["data"]["nodeId"], r"^[0-9a-f-]{36}$")
        self.assertRegex(obj["data"]["authToken"], r"^[0-9a-f]{64}$")
        self.assertNoErrors()
        self.mock.admin("POST", "config", {"register_shape": "flat"})
        status, obj = self.call("POST", W + "/register",
                                v2_reg_body(hostname="b2",
                                            ipAddress="10.0.0.2"))
        self.assertEqual(set(obj), {"success", "nodeId", "authToken",
                                    "message"})

    def test_register_updates_in_place(self):
        node_id, token = self.register()
        again, token2 = self.register(ipAddress="10.9.9.9")  # same hostname
        self.assertEqual(again, node_id)
        self.assertNotEqual(token, token2)
        self.assertEqual(self.heartbeat(node_id, token)[0], 200)
        self.assertIn("superseded", self.assertError("auth")["message"])
        third, _ = self.register(hostname="other", ipAddress="10.0.0.3")
        self.assertNotEqual(third, node_id)

    def test_register_superset_types_and_units(self):
        body = v2_reg_body(port="3001")
        status, obj = self.call("POST", W + "/register", body)
        self.assertEqual((status, obj["error"]),
                         (500, "Failed to register worker node"))
        self.clear()
        info = dict(v2_reg_body()["systemInfo"], totalMemory=8192,
                    loadAverage=[0.1])
        del info["nodeVersion"]
        status, _ = self.call("POST", W + "/register", v2_reg_body(
            systemInfo=info, maxConcurrentBuilds=20, capabilities=...,
            resourceLimits={"buildTimeoutMinutes": 0}))
        self.assertEqual(status, 201)
        self.assertError("units", "totalMemory")
        self.assertError("units", "freeMemory")
        self.assertError("type", "loadAverage")
        self.assertError("superset", "nodeVersion")
        self.assertError("range", "maxConcurrentBuilds")
        self.assertError("superset", "capabilities")
        self.assertError("range", "buildTimeoutMinutes")
        self.assertError("superset", "workspaceDir")

    def test_heartbeat(self):
        node_id, token = self.register()
        status, obj = self.heartbeat(node_id, token)
        self.assertEqual((status, obj), (200, {
            "success": True, "message": "Heartbeat received"}))
        self.assertNoErrors()
        worker = self.mock.admin("GET", "workers/" + node_id)
        self.assertIn("last_heartbeat", worker["metadata"])
        status, obj = self.call("POST", W + "/heartbeat", {"timestamp": iso()},
                                token=token)
        self.assertEqual((status, obj["error"]), (400, "Node ID is required"))
        status, obj = self.heartbeat(
            "00000000-0000-4000-8000-000000000000", token)
        self.assertEqual((status, obj["error"]),
                         (404, "Worker node not found"))
        status, obj = self.heartbeat("worker-1", token)
        self.assertEqual(status, 500)
        self.clear()
        self.heartbeat(node_id, token, timestamp=int(time.time()))
        self.assertError("type", "timestamp", 200)

    def test_heartbeat_refusal_forces_reregistration(self):
        node_id, token = self.register()
        self.mock.admin("POST", "config", {"refuse_heartbeats": 2})
        self.assertEqual(self.heartbeat(node_id, token)[0], 404)
        self.assertEqual(self.heartbeat(node_id, token)[0], 404)
        self.assertEqual(self.heartbeat(node_id, token)[0], 200)
        self.mock.admin("POST", "config", {"refuse_heartbeats": -1,
                                           "refuse_status": 500})
        self.assertEqual(self.heartbeat(node_id, token)[0], 500)
        self.mock.admin("POST", "config", {"refuse_heartbeats": 0,
                                           "refuse_status": 404})
        # expire: refused until the worker registers again
        self.mock.admin("POST", "expire")
        self.assertEqual(self.heartbeat(node_id, token)[0], 404)
        same, fresh = self.register()
        self.assertEqual(same, node_id)
        self.clear()
        self.assertEqual(self.heartbeat(node_id, fresh)[0], 200)
        self.assertNoErrors()
        # a deleted worker: 404 until it registers again
        self.mock.admin("DELETE", "workers/" + node_id)
        self.assertEqual(self.heartbeat(node_id, fresh)[0], 404)

    def test_queued_shapes(self):
        _node_id, token = self.register()
        first = self.queue(githubBranch="dev")["build"]
        second = self.queue()["build"]
        self.queue(status="deployed")
        want = [first, second]
        self.assertEqual(set(first), {
            "deploymentId", "appId", "version", "status", "createdAt",
            "organizationId", "githubRepoUrl", "githubBranch",
            "dockerfilePath", "buildCommand", "environmentVariables",
            "metadata"})
        for shape, pick in (("data.builds", lambda o: o["data"]["builds"]),
                            ("data", lambda o: o["data"]),
                            ("builds", lambda o: o["builds"]),
                            ("bare", lambda o: o)):
            self.mock.admin("POST", "config", {"queued_shape": shape})
            status, obj = self.call("GET", W + "/builds/queued", token=token)
            self.assertEqual(status, 200)
            self.assertEqual(pick(obj), want, shape)
        self.mock.admin("POST", "config", {"queued_shape": "data.builds",
                                           "queued_db_error": True})
        self.assertEqual(self.call("GET", W + "/builds/queued",
                                   token=token)[1]["data"]["builds"], [])
        self.assertNoErrors()

    def test_accept(self):
        node_id, token = self.register()
        dep = self.queue()["id"]
        status, obj = self.post(dep, "accept", token, {"nodeId": node_id})
        self.assertEqual((status, obj), (200, {
            "success": True, "message": "Build job accepted"}))
        self.assertNoErrors()
        status, obj = self.post(dep, "accept", token, {})
        self.assertEqual((status, obj["error"]),
                         (403, "Worker node not found or not online"))
        self.call("POST", W + "/%s/maintenance" % node_id,
                  {"enabled": True, "reason": "test"})
        self.assertEqual(self.post(dep, "accept", token,
                                   {"nodeId": node_id})[0], 403)
        self.call("POST", W + "/%s/maintenance" % node_id, {"enabled": False})
        self.clear()
        status, _ = self.post("00000000-0000-4000-8000-00000000abcd",
                              "accept", token, {"nodeId": node_id})
        self.assertEqual(status, 200)       # the server does nothing with it
        self.assertError("unknown-build")

    def flow(self, node_id, token, dep, final, **fields):
        self.assertEqual(self.post(dep, "accept", token,
                                   {"nodeId": node_id})[0], 200)
        status, obj = self.post(dep, "status", token, {
            "nodeId": node_id, "status": "deploying",
            "logs": "cloning\nbuilding"})
        self.assertEqual((status, obj["success"]), (200, True))
        body = {"nodeId": node_id, "status": final,
                "logs": "cloning\nbuilding\ndone"}
        body.update(fields)
        return self.post(dep, "status", token, body)

    def test_status_flows(self):
        node_id, token = self.register()
        dep = self.queue()["id"]
        status, _ = self.flow(node_id, token, dep, "deployed", result={
            "imageId": "sha256:" + "b" * 64, "containerId": "c" * 64})
        self.assertEqual(status, 200)
        self.assertNoErrors()
        build = self.mock.admin("GET", "builds/" + dep)
        self.assertEqual(build["status"], "deployed")
        self.assertEqual(build["logs"], "cloning\nbuilding\ndone")
        self.assertEqual(build["build"]["metadata"]["build_result"]["imageId"],
                         "sha256:" + "b" * 64)
        self.assertIsNotNone(build["deployment_completed_at"])
        queued = self.call("GET", W + "/builds/queued", token=token)[1]
        self.assertEqual(queued["data"]["builds"], [])
        dep2 = self.queue()["id"]
        status, _ = self.flow(node_id, token, dep2, "building_failed",
                              errorMessage="Dockerfile not found: x")
        self.assertEqual(status, 200)
        dep3 = self.queue()["id"]
        self.flow(node_id, token, dep3, "deployment_failed",
                  errorMessage="Container failed to start: exited")
        self.assertNoErrors()
        builds = self.call("GET", W + "/%s/builds" % node_id)[1]
        self.assertEqual(len(builds["data"]["builds"]), 3)

    def test_status_refusals(self):
        node_id, token = self.register()
        dep = self.queue()["id"]
        status, obj = self.post(dep, "status", token, {"nodeId": node_id})
        self.assertEqual((status, obj["error"]),
                         (400, "Missing required fields: nodeId, status"))
        status, obj = self.post(dep, "status", token,
                                {"nodeId": node_id, "status": "building"})
        self.assertEqual(status, 400)
        self.assertTrue(obj["error"].startswith("Invalid status"))
        status, obj = self.post(dep, "status", token, {
            "nodeId": "00000000-0000-4000-8000-000000000000",
            "status": "deploying"})
        self.assertEqual(status, 403)
        status, obj = self.post("00000000-0000-4000-8000-00000000abcd",
                                "status", token,
                                {"nodeId": node_id, "status": "deploying"})
        self.assertEqual((status, obj["error"]), (404, "Deployment not found"))
        status, obj = self.post("..%2F..%2Fetc", "status", token,
                                {"nodeId": node_id, "status": "deploying"})
        self.assertEqual(status, 500)

    def test_status_content_rules(self):
        node_id, token = self.register()
        dep = self.queue()["id"]
        # no accept, no deploying first, deployed without result or logs
        status, _ = self.post(dep, "status", token,
                              {"nodeId": node_id, "status": "deployed"})
        self.assertEqual(status, 200)
        messages = [e["message"] for e in self.mock.errors()]
        self.assertEqual(len(messages), 4, messages)
        self.assertError("sequence", "status")
        self.assertError("sequence", "nodeId")
        self.assertError("superset", "logs")
        self.assertError("required", "result")
        self.clear()
        dep2 = self.queue()["id"]
        self.flow(node_id, token, dep2, "building_failed")
        self.assertError("required", "errorMessage")
        self.clear()
        dep3 = self.queue()["id"]
        self.flow(node_id, token, dep3, "deployed",
                  result={"imageId": "", "containerId": 5},
                  logs=["line"])
        self.assertError("value", "imageId")
        self.assertError("type", "containerId")
        self.assertError("type", "logs")

    def test_logs(self):
        node_id, token = self.register()
        dep = self.queue()["id"]
        good = {"nodeId": node_id, "level": "info", "message": "step 1",
                "timestamp": iso(), "metadata": {"step": 1}}
        status, obj = self.post(dep, "logs", token, good)
        self.assertEqual((status, obj["success"]), (200, True))
        self.assertNoErrors()
        self.assertEqual(len(self.mock.admin("GET", "builds/" + dep)
                             ["logEntries"]), 1)
        status, obj = self.post(dep, "logs", token, dict(good, message=""))
        self.assertEqual((status, obj["error"]), (400, "Missing required "
                                                  "fields: nodeId, level, "
                                                  "message"))
        status, obj = self.post(dep, "logs", token, dict(good, level="fatal"))
        self.assertEqual(status, 400)
        self.assertTrue(obj["error"].startswith("Invalid log level"))
        status, _ = self.post("00000000-0000-4000-8000-00000000abcd", "logs",
                              token, good)
        self.assertEqual(status, 500)

    def test_node_routes(self):
        node_id, token = self.register()
        self.heartbeat(node_id, token)
        status, obj = self.call("GET", W + "/%s/status" % node_id, token=token)
        self.assertEqual(status, 200)
        self.assertEqual(obj["data"]["worker"]["id"], node_id)
        self.assertIn("systemStats", obj["data"])
        unknown = "00000000-0000-4000-8000-000000000000"
        self.assertEqual(self.call("GET", W + "/%s/status" % unknown)[0], 404)
        status, _ = self.call("POST", W + "/%s/maintenance" % node_id,
                              {"enabled": "yes"})
        self.assertEqual(status, 400)
        status, obj = self.call("POST", W + "/%s/restart" % node_id)
        self.assertEqual(status, 200)
        self.assertEqual(self.mock.admin("GET", "workers/" + node_id)
                         ["restartRequests"], 1)

    def test_bearer_checks(self):
        node_id, token = self.register()
        self.assertEqual(self.heartbeat(node_id, None)[0], 200)
        self.assertError("auth", "authorization", 200)
        self.clear()
        self.assertEqual(self.call("GET", W + "/builds/queued",
                                   token="f" * 64)[0], 200)
        self.assertError("auth")
        self.mock.admin("POST", "config", {"auth_check": "enforce"})
        status, obj = self.heartbeat(node_id, "f" * 64)
        self.assertEqual((status, obj["error"]), (401, "Unauthorized"))
        self.assertEqual(self.heartbeat(node_id, token)[0], 200)
        self.mock.admin("POST", "config", {"auth_check": "off"})
        self.clear()
        self.heartbeat(node_id, None)
        self.assertNoErrors()

    def test_offline_after_silence(self):
        node_id, token = self.register()
        dep = self.queue()["id"]
        self.mock.admin("POST", "workers/" + node_id, {"age": 400})
        self.assertEqual(self.mock.admin("GET", "workers/" + node_id)
                         ["status"], "offline")
        self.assertEqual(self.post(dep, "accept", token,
                                   {"nodeId": node_id})[0], 403)
        self.assertEqual(self.heartbeat(node_id, token)[0], 200)
        self.assertEqual(self.post(dep, "accept", token,
                                   {"nodeId": node_id})[0], 200)

    def test_requests_readback(self):
        node_id, token = self.register()
        self.heartbeat(node_id, token)
        got = self.mock.admin("GET", "wait?route=heartbeat&timeout=5")
        self.assertTrue(got["ok"])
        hb = got["requests"][0]
        self.assertEqual(hb["headers"]["authorization"], "Bearer " + token)
        self.assertEqual(hb["body"]["nodeId"], node_id)
        self.assertEqual(hb["response"]["message"], "Heartbeat received")


class TestCommandLine(unittest.TestCase):
    def test_config_option_and_bad_config(self):
        mock = Mock(SKYPANEL, "--config", '{"register_shape": "both"}',
                    "--registration-token", "abc")
        try:
            status, obj = mock.call("POST", REG_PATH,
                                    reg_body(registration_token="abc"))
            self.assertEqual(status, 200)
            self.assertIn("node", obj)
            self.assertIn("node_id", obj)
            self.assertEqual(mock.call("POST", REG_PATH, reg_body())[0], 404)
        finally:
            mock.stop()
        self.assertEqual(mock.proc.returncode, 0)
        proc = subprocess.run([sys.executable, "-B", SKYPANEL_V2, "--config",
                               '{"queued_shape": "nope"}'],
                              capture_output=True, timeout=20)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"queued_shape", proc.stderr)

    def test_listens_on_loopback_only(self):
        mock = Mock(SKYPANEL_V2)
        try:
            with socket.create_connection(("127.0.0.1", mock.port), 5):
                pass
            addrs = {a[4][0] for a in socket.getaddrinfo(
                socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
            for addr in addrs:
                if addr.startswith("127."):
                    continue
                with self.assertRaises(OSError):
                    socket.create_connection((addr, mock.port), 1).close()
        finally:
            mock.stop()


if __name__ == "__main__":
    unittest.main()
