#!/usr/bin/env python3
"""skypanel_cp.py: a mock SkyPanel PaaS control plane (seed 000).

It answers the four routes the PaaS agent uses the way the real server
(api/routes/paas/internal.ts and its services) does according to
/work/shared/seeds/CONTRACTS.md section 1, and it is stricter than the
real server in one way only: whatever berth should send but the real
server would silently accept (the snake_case + camelCase heartbeat
superset, units, the task status sequence) is recorded as a validation
error without changing the answer, so a test can assert that there were
none.  README.md beside this file lists every rule with its section.

  POST /api/paas/internal/nodes/register            (1.2)
  POST /api/paas/internal/nodes/{nodeId}/heartbeat  (1.3, 1.4)
  GET  /api/paas/internal/nodes/{nodeId}/tasks      (1.3, 1.5)
  PUT  /api/paas/internal/tasks/{taskId}/status     (1.3, 1.5)
  POST /api/paas/admin/nodes                        (1.2, admin JWT)

Test controls live under /_mock/ (see README.md).

Usage: skypanel_cp.py [--port N] [--state FILE] [--config JSON]
                      [--registration-token TOKEN]...
"""

import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

from skypanel_base import (AdminError, App, is_int, is_num,  # noqa: E402
                           js_truthy, main, pg_int, typename)

HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
          "HS512": hashlib.sha512}
TASK_TYPES = ("deploy", "restart", "stop", "start", "scale", "backup",
              "restore", "delete", "provision")
NODE_STATUSES = ("online", "degraded")
STATUS_VALUES = ("running", "completed", "failed")
DEPLOY_OUTPUT = (("containerId", str), ("hostPort", int),
                 ("commitSha", str), ("commitMessage", str),
                 ("buildLogs", str))

# heartbeat keys: name, kind, low, high.  snake_case is what the PaaS agent
# sends (percent and GB), camelCase is what the server reads (MB), 1.4.
SNAKE = (("cpu_used", "int", 0, 100), ("memory_used", "int", 0, 100),
         ("disk_used", "int", 0, 100), ("container_count", "int", 0, None),
         ("cpu_total", "int", 100, 100), ("memory_total", "int", 0, None),
         ("disk_total", "int", 0, None))
CAMEL = (("cpuUsagePercent", "num", 0, 100), ("memoryUsedMB", "int", 0, None),
         ("memoryTotalMB", "int", 1, None), ("diskUsedMB", "int", 0, None),
         ("diskTotalMB", "int", 1, None), ("containerCount", "int", 0, None))
CONTAINER = (("containerId", "str"), ("applicationId", "intnull"),
             ("status", "str"), ("cpuUsagePercent", "num"),
             ("memoryUsedMB", "int"), ("restartCount", "int"))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    text = text.replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_verify(token, secret, now):
    """jsonwebtoken's verify(token, secret) with its default options:
    (payload, None) or (None, why).  The key is the secret *string* as
    UTF-8 (the 128 hex characters, not the 64 bytes they spell)."""
    if not secret:
        return None, "the node has no jwt_secret (it never registered)"
    parts = token.split(".")
    if len(parts) != 3:
        return None, "jwt malformed (%d dot-separated parts)" % len(parts)
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError:
        return None, "invalid token: the header is not base64url JSON"
    if not isinstance(header, dict):
        return None, "invalid token: the header is not an object"
    alg = header.get("alg")
    if alg not in HASHES:
        return None, "invalid algorithm %r (a string secret allows only " \
            "HS256/HS384/HS512)" % (alg,)
    if not parts[2]:
        return None, "jwt signature is required"
    want = b64url(hmac.new(secret.encode(), (parts[0] + "." + parts[1])
                           .encode(), HASHES[alg]).digest())
    if not hmac.compare_digest(want.encode(), parts[2].encode("utf-8",
                                                              "replace")):
        return None, "invalid signature (HMAC key is the jwt_secret string)"
    try:
        payload = json.loads(b64url_decode(parts[1]))
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return None, "the payload is not a JSON object"
    if "nbf" in payload:
        if not is_num(payload["nbf"]):
            return None, "invalid nbf value"
        if payload["nbf"] > now:
            return None, "jwt not active (nbf %s is after now %d)" % (
                payload["nbf"], now)
    if "exp" in payload:
        if not is_num(payload["exp"]):
            return None, "invalid exp value"
        if now >= payload["exp"]:
            return None, "jwt expired (exp %s, now %d)" % (payload["exp"], now)
    return payload, None


def mint_jwt(payload, secret, alg="HS256"):
    """For tests and for people poking at the mock by hand."""
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), (head + "." + body).encode(),
                   HASHES[alg]).digest()
    return head + "." + body + "." + b64url(sig)


def example_deploy_data():
    return {"git_repo_url": "https://example.invalid/acme/app.git",
            "git_branch": "main", "git_oauth_token": None, "port": 3000,
            "instances": 1,
            "runtime": {"name": "Node.js 20", "runtime_type": "node",
                        "version": "20", "docker_image": "node:20-alpine",
                        "build_command": "npm ci", "start_command":
                        "npm start"},
            "cpu_limit": 1000, "memory_limit": 512, "storage_limit": 1024,
            "env_vars": {}}


def fail(status, message):
    return status, {"success": False, "error": message}


class SkyPanel(App):
    NAME = "skypanel_cp"
    DESCRIPTION = "mock SkyPanel PaaS control plane (CONTRACTS.md section 1)"
    ROUTES = (
        ("POST", r"/api/paas/internal/nodes/register", "h_register",
         "register"),
        ("POST", r"/api/paas/internal/nodes/([^/]+)/heartbeat",
         "h_heartbeat", "heartbeat"),
        ("GET", r"/api/paas/internal/nodes/([^/]+)/tasks", "h_tasks",
         "tasks"),
        ("PUT", r"/api/paas/internal/tasks/([^/]+)/status", "h_task_status",
         "task_status"),
        ("POST", r"/api/paas/admin/nodes", "h_admin_nodes", "admin_nodes"),
    )
    DEFAULTS = {
        "register_shape": "node_id",    # node_id | node | both
        "auth_mode": "jwt",             # jwt | raw | either
        "require_name_region": True,
        "unit_checks": True,
        "clock_offset": 0,              # seconds added to the mock's clock
        "max_tasks_per_poll": 10,
        "body_limit": 100 * 1024,       # express.json() default
        "offline_after": 90,
        "admin_token": "mock-admin-token",
    }
    CHOICES = {"register_shape": ("node_id", "node", "both"),
               "auth_mode": ("jwt", "raw", "either")}
    ROUTE_500 = {"register": "Failed to register node",
                 "heartbeat": "Failed to process heartbeat",
                 "tasks": "Failed to fetch tasks",
                 "task_status": "Failed to update task status",
                 "admin_nodes": "Failed to create node"}

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("--registration-token", action="append",
                            metavar="TOKEN", help="create a pending node "
                            "with this registration token (repeatable; "
                            "default: one, mock-registration-token)")

    # state -------------------------------------------------------------------

    def reset_state(self):
        self.nodes = {}
        self.tasks = {}
        self.next_node = 1
        self.next_task = 1
        self.expired_before = None
        for token in (self.opts.registration_token or
                      ["mock-registration-token"]):
            self.new_node({"registration_token": token})

    def now(self):
        return time.time() + self.config["clock_offset"]

    def new_node(self, spec):
        node = {"id": spec.get("id", self.next_node),
                "name": spec.get("name", "node-%d" % self.next_node),
                "region": spec.get("region", "local"),
                "host_address": spec.get("host_address"),
                "registration_token": spec.get("registration_token")
                or secrets.token_hex(32),
                "status": spec.get("status", "pending"),
                "jwt_secret": spec.get("jwt_secret"),
                "cpu_total": None, "memory_total": None, "disk_total": None,
                "cpu_used": None, "memory_used": None, "disk_used": None,
                "container_count": None, "last_heartbeat": None,
                "heartbeats": 0, "registered": None, "reported": None}
        if not is_int(node["id"]) or node["id"] in self.nodes:
            raise AdminError(400, "node id must be a new integer")
        self.next_node = max(self.next_node, node["id"]) + 1
        self.nodes[node["id"]] = node
        return node

    def node_view(self, node):
        view = dict(node)
        if (node["status"] == "online" and node["last_heartbeat"] is not None
                and time.time() - node["last_heartbeat"]
                > self.config["offline_after"]):
            view["status"] = "offline"   # checkOfflineNodes, 1.4
        return view

    def snapshot(self):
        return {"nodes": [self.node_view(n) for n in self.nodes.values()],
                "tasks": list(self.tasks.values())}

    def fail_body(self, route, status):
        if status == 500 and route in self.ROUTE_500:
            return {"success": False, "error": self.ROUTE_500[route]}
        return App.fail_body(self, route, status)

    # authentication, 1.3 -----------------------------------------------------

    def authenticate(self, req, node):
        header = req.headers.get("authorization")
        if not header or not header.startswith("Bearer "):
            req.error("auth", "no 'Authorization: Bearer <jwt>' header "
                      "(CONTRACTS 1.3)", "authorization")
            return fail(401, "Missing authorization")
        token = header[7:]
        mode = self.config["auth_mode"]
        secret = node["jwt_secret"]
        is_raw = bool(secret) and hmac.compare_digest(
            token.encode("utf-8", "replace"), secret.encode())
        if is_raw and mode in ("raw", "either"):
            return None
        if mode == "raw":
            req.error("auth", "auth_mode raw: the bearer is not the node's "
                      "jwt_secret", "authorization")
            return fail(401, "Invalid token")
        if is_raw:
            req.error("auth", "the raw jwt_secret was sent where the server "
                      "runs jwt.verify(); it needs an HS256 JWT {nodeId} "
                      "signed with the secret (CONTRACTS 1.3)",
                      "authorization")
            return fail(401, "Invalid token")
        now = int(self.now())
        payload, why = jwt_verify(token, secret, now)
        if payload is None:
            req.error("auth", "jwt.verify refuses the token: %s "
                      "(CONTRACTS 1.3)" % why, "authorization")
            return fail(401, "Invalid token")
        claim = payload.get("nodeId")
        if not is_int(claim) or claim != node["id"]:
            req.error("auth", "nodeId claim %s (%s) is not the integer node "
                      "id %d (CONTRACTS 1.3)" % (json.dumps(claim),
                                                 typename(claim), node["id"]),
                      "authorization")
            return fail(401, "Invalid token")
        if self.expired_before is not None:
            iat = payload.get("iat")
            if not is_num(iat) or iat <= self.expired_before:
                req.error("auth-expired", "token issued at %s, at or before "
                          "the /_mock/expire cut-off %d" % (
                              iat, self.expired_before), "authorization")
                return fail(401, "Invalid token")
        return None

    def node_for(self, req, text):
        """(node, None) or (None, refusal) for a {nodeId} path element."""
        node_id = pg_int(text)
        if node_id is None:
            req.error("path", "node id %r is not an integer; the query "
                      "fails and the route answers 500" % text, "nodeId")
            return None, fail(500, self.ROUTE_500[req.route])
        node = self.nodes.get(node_id)
        if node is None:
            req.error("unknown-node", "no node %d (404 comes before auth, "
                      "CONTRACTS 1.3)" % node_id, "nodeId")
            return None, fail(404, "Node not found")
        return node, None

    # POST /api/paas/internal/nodes/register, 1.2 -----------------------------

    def h_register(self, req):
        body = req.obj()
        need = ["registration_token", "cpu_total", "memory_total",
                "disk_total"]
        if self.config["require_name_region"]:
            need += ["name", "region"]
        missing = [k for k in need if not js_truthy(body.get(k))]
        if missing:
            for key in missing:
                req.error("required", "%s is missing or falsy (%s); the "
                          "server needs registration_token and cpu/memory/"
                          "disk totals, the agent sends name and region "
                          "(CONTRACTS 1.2)" % (key, json.dumps(body.get(key))),
                          key)
            return fail(400, "Missing required fields")
        token = body["registration_token"]
        node = next((n for n in self.nodes.values()
                     if isinstance(token, str) and n["status"] == "pending"
                     and n["registration_token"] == token), None)
        if node is None:
            req.error("token", "no pending node has registration token %r "
                      "(CONTRACTS 1.2)" % (token,), "registration_token")
            return fail(404, "Invalid registration token")
        bad = False
        for key in ("cpu_total", "memory_total", "disk_total"):
            if not is_int(body[key]) or body[key] < 0:
                req.error("type", "%s must be a non-negative integer for its "
                          "integer column, got %s; the update fails and the "
                          "route answers 500 (CONTRACTS 1.2)"
                          % (key, json.dumps(body[key])), key)
                bad = True
        for key in ("name", "region"):
            if key in body and not isinstance(body[key], str):
                req.error("type", "%s must be a string, got %s"
                          % (key, typename(body[key])), key)
        if bad:
            return fail(500, "Failed to register node")
        if self.config["unit_checks"]:
            if body["memory_total"] < 256:
                req.error("units", "memory_total %s is under 256: it is MB "
                          "at registration, this looks like GB (CONTRACTS "
                          "1.2)" % body["memory_total"], "memory_total")
            if body["disk_total"] < 1024:
                req.error("units", "disk_total %s is under 1024: it is MB at "
                          "registration, this looks like GB (CONTRACTS 1.2)"
                          % body["disk_total"], "disk_total")
        node["jwt_secret"] = secrets.token_hex(64)
        node["status"] = "online"
        node["registered"] = time.time()
        node["reported"] = {k: body.get(k) for k in ("name", "region")}
        for key in ("cpu_total", "memory_total", "disk_total"):
            node[key] = int(body[key])
        answer = {"success": True}
        shape = self.config["register_shape"]
        if shape in ("node_id", "both"):
            answer["node_id"] = node["id"]
        if shape in ("node", "both"):
            answer["node"] = {"id": node["id"]}
        answer["jwt_secret"] = node["jwt_secret"]
        return 200, answer

    # POST /api/paas/internal/nodes/{nodeId}/heartbeat, 1.4 -------------------

    def check_value(self, req, where, key, value, kind, low, high):
        """True when the type is right; range problems are only recorded."""
        ok = {"int": is_int, "num": is_num,
              "str": lambda v: isinstance(v, str),
              "intnull": lambda v: v is None or is_int(v)}[kind](value)
        if not ok:
            req.error("type", "%s%s must be %s, got %s" % (
                where, key, {"int": "an integer", "num": "a number",
                             "str": "a string", "intnull":
                             "an integer or null"}[kind],
                json.dumps(value)), key)
            return False
        if low is not None and value < low or high is not None and \
                value > high:
            req.error("range", "%s%s = %s is outside %s..%s (CONTRACTS 1.4)"
                      % (where, key, value, low, "" if high is None else high),
                      key)
        return True

    def check_heartbeat(self, req, node, body):
        """Records every deviation; False when the real server's update
        would fail on a mistyped camelCase value (it answers 500)."""
        if not isinstance(req.body, dict):
            req.error("body", "heartbeat body is not a JSON object")
        typed = True
        for key, kind, low, high in SNAKE:
            if key not in body:
                req.error("superset", "snake_case %s is missing; berth "
                          "sends the agent's keys too (CONTRACTS 1.4, 6)"
                          % key, key)
            else:
                self.check_value(req, "", key, body[key], kind, low, high)
        for key, kind, low, high in CAMEL:
            if key not in body or body[key] is None:
                req.error("superset", "camelCase %s is missing; the server "
                          "would write NULL (CONTRACTS 1.4)" % key, key)
            elif not self.check_value(req, "", key, body[key], kind, low,
                                      high):
                typed = False
        status = body.get("status")
        if status is None:
            req.error("superset", "status ('online'|'degraded') is missing "
                      "(CONTRACTS 1.4)", "status")
        elif status not in NODE_STATUSES:
            req.error("value", "status must be 'online' or 'degraded', got "
                      "%s (CONTRACTS 1.4)" % json.dumps(status), "status")
            typed = typed and isinstance(status, str)
        containers = body.get("containers")
        if containers is not None:
            if not isinstance(containers, list):
                req.error("type", "containers must be an array, got %s"
                          % typename(containers), "containers")
                typed = False
            else:
                for i, entry in enumerate(containers):
                    where = "containers[%d]." % i
                    if not isinstance(entry, dict):
                        req.error("type", "%s is not an object" % where[:-1],
                                  "containers")
                        typed = False
                        continue
                    for key, kind in CONTAINER:
                        if key not in entry:
                            req.error("required", "%s%s is missing "
                                      "(CONTRACTS 1.4)" % (where, key), key)
                        elif not self.check_value(req, where, key, entry[key],
                                                  kind, None, None):
                            typed = False
                    if isinstance(entry.get("containerId"), str) and \
                            not entry["containerId"]:
                        req.error("value", "%scontainerId is empty" % where,
                                  "containerId")
        if typed and self.config["unit_checks"]:
            self.check_units(req, node, body)
        return typed

    def check_units(self, req, node, body):
        """Snake_case totals are GB and usage is percent; camelCase is MB."""
        def num(key):
            v = body.get(key)
            return v if is_num(v) else None

        def err(field, text):
            req.error("units", text + " (CONTRACTS 1.4, 6)", field)
        pairs = (("memory_total", "memoryTotalMB"),
                 ("disk_total", "diskTotalMB"))
        for gb_key, mb_key in pairs:
            gb, mb = num(gb_key), num(mb_key)
            if gb is not None and mb is not None and abs(gb - mb / 1024) > 1:
                err(gb_key, "%s = %s GB does not match %s = %s MB"
                    % (gb_key, gb, mb_key, mb))
        for pct_key, used_key, total_key in (
                ("memory_used", "memoryUsedMB", "memoryTotalMB"),
                ("disk_used", "diskUsedMB", "diskTotalMB")):
            pct, used, total = num(pct_key), num(used_key), num(total_key)
            if used is not None and total and used > total:
                err(used_key, "%s = %s is more than %s = %s"
                    % (used_key, used, total_key, total))
            elif pct is not None and used is not None and total and \
                    abs(pct - 100.0 * used / total) > 2:
                err(pct_key, "%s = %s%% but %s/%s is %.1f%%" % (
                    pct_key, pct, used_key, total_key, 100.0 * used / total))
        cpu, cpu_pct = num("cpu_used"), num("cpuUsagePercent")
        if cpu is not None and cpu_pct is not None and abs(cpu - cpu_pct) > 1:
            err("cpu_used", "cpu_used = %s but cpuUsagePercent = %s"
                % (cpu, cpu_pct))
        if num("container_count") is not None and \
                num("containerCount") is not None and \
                body["container_count"] != body["containerCount"]:
            err("container_count", "container_count %s != containerCount %s"
                % (body["container_count"], body["containerCount"]))
        mb = num("memoryTotalMB")
        if mb is not None and node["memory_total"] and \
                abs(mb - node["memory_total"]) > max(64, 0.05 *
                                                      node["memory_total"]):
            err("memoryTotalMB", "memoryTotalMB = %s but the node registered "
                "memory_total = %s MB" % (mb, node["memory_total"]))

    def h_heartbeat(self, req, node_text):
        node, refusal = self.node_for(req, node_text)
        if refusal:
            return refusal
        refusal = self.authenticate(req, node)
        if refusal:
            return refusal
        body = req.obj()
        if not self.check_heartbeat(req, node, body):
            return fail(500, "Failed to process heartbeat")
        node["cpu_used"] = body.get("cpuUsagePercent")
        node["memory_used"] = body.get("memoryUsedMB")
        node["memory_total"] = body.get("memoryTotalMB")
        node["disk_used"] = body.get("diskUsedMB")
        node["disk_total"] = body.get("diskTotalMB")
        node["container_count"] = body.get("containerCount")
        if body.get("status") in NODE_STATUSES:
            node["status"] = body["status"]
        node["last_heartbeat"] = time.time()
        node["heartbeats"] += 1
        node["last_heartbeat_body"] = body
        return 200, {"success": True}

    # GET /api/paas/internal/nodes/{nodeId}/tasks, 1.5 ------------------------

    def h_tasks(self, req, node_text):
        node, refusal = self.node_for(req, node_text)
        if refusal:
            return refusal
        refusal = self.authenticate(req, node)
        if refusal:
            return refusal
        if req.raw:
            req.error("body", "GET with a body")
        due = [t for t in self.tasks.values() if t["node_id"] == node["id"]
               and (t["status"] == "pending" or t["redeliver"] > 0)]
        due.sort(key=lambda t: (t["priority"], t["created"], t["id"]))
        due = due[:self.config["max_tasks_per_poll"]]
        for task in due:
            task["deliveries"] += 1
            if task["status"] != "pending":
                task["redeliver"] -= 1
        return 200, {"success": True,
                     "tasks": [copy.deepcopy(t["task"]) for t in due]}

    # PUT /api/paas/internal/tasks/{taskId}/status, 1.5 -----------------------

    def h_task_status(self, req, task_text):
        body = req.obj()
        status = body.get("status")
        if not js_truthy(status):
            req.error("required", "status is missing or falsy (CONTRACTS "
                      "1.5)", "status")
            return fail(400, "Status is required")
        task_id = pg_int(task_text)
        if task_id is None:
            req.error("path", "task id %r is not an integer; the query fails"
                      % task_text, "taskId")
            return fail(500, "Failed to update task status")
        task = self.tasks.get(task_id)
        if task is None:
            req.error("unknown-task", "no task %d (CONTRACTS 1.5)" % task_id,
                      "taskId")
            return fail(404, "Task not found")
        node = self.nodes.get(task["node_id"])
        if node is None:
            req.error("unknown-node", "task %d belongs to node %s, which is "
                      "gone" % (task_id, task["node_id"]), "nodeId")
            return fail(404, "Node not found")
        refusal = self.authenticate(req, node)
        if refusal:
            return refusal
        output = body.get("output")
        message = body.get("message")
        if output is not None and not isinstance(output, dict):
            req.error("output", "output is %s; the server stores it as the "
                      "jsonb result and then runs jsonb_set(result, "
                      "'{message}', ...), which fails on anything but an "
                      "object or null, so the route answers 500 (CONTRACTS "
                      "1.5)" % typename(output), "output")
            return fail(500, "Failed to update task status")
        self.check_status(req, task, status, output, message)
        result = None
        if isinstance(output, dict):
            result = dict(output)
            result["message"] = message
        task["status"] = status
        task["result"] = result
        task["updates"].append({"seq": req.seq, "time": time.time(),
                                "status": status, "output": output,
                                "message": message})
        if status == "in_progress":
            task["acknowledged_at"] = time.time()
        if status in ("completed", "failed"):
            task["completed_at"] = time.time()
        return 200, {"success": True}

    def check_status(self, req, task, status, output, message):
        """The running -> completed/failed sequence of 1.5, recorded only."""
        previous = task["status"]
        ttype = task["task"].get("task_type")
        if status not in STATUS_VALUES:
            req.error("value", "status %s is not running, completed or "
                      "failed (CONTRACTS 1.5)" % json.dumps(status), "status")
        if "message" not in req.obj():
            req.error("required", "message is missing; jsonb_set with a NULL"
                      " message empties the whole result (CONTRACTS 1.5)",
                      "message")
        elif not isinstance(message, str):
            req.error("type", "message must be a string, got %s"
                      % typename(message), "message")
        if "output" not in req.obj():
            req.error("required", "output is missing (send null when there "
                      "is none, CONTRACTS 1.5)", "output")
        if status == "running":
            if previous != "pending":
                req.error("duplicate", "task %d reported running again (it "
                          "was %s): executed twice? berth keeps an in-flight"
                          " set keyed by task id (CONTRACTS 1.5)"
                          % (task["id"], previous), "status")
            if output is not None:
                req.error("output", "running carries output null "
                          "(CONTRACTS 1.5)", "output")
        elif status in ("completed", "failed"):
            if previous in ("completed", "failed"):
                req.error("sequence", "task %d already %s, now %s"
                          % (task["id"], previous, status), "status")
            elif previous != "running":
                req.error("sequence", "task %d went %s -> %s without running"
                          " first (CONTRACTS 1.5)"
                          % (task["id"], previous, status), "status")
        if status == "failed":
            if not isinstance(message, str) or not message:
                req.error("message", "failed needs the error as a non-empty "
                          "message (CONTRACTS 1.5)", "message")
            if output is not None:
                req.error("output", "failed carries output null "
                          "(CONTRACTS 1.5)", "output")
        if status == "completed":
            if ttype not in TASK_TYPES:
                req.error("task-type", "unknown task type %r completed; the "
                          "agent fails it with 'Unknown task type: %s' "
                          "(CONTRACTS 1.5)" % (ttype, ttype), "status")
            elif ttype == "deploy":
                self.check_deploy_output(req, output)
            elif ttype in ("restart", "stop", "start") and output is not None:
                req.error("output", "%s completes with output null "
                          "(CONTRACTS 1.5)" % ttype, "output")

    def check_deploy_output(self, req, output):
        if not isinstance(output, dict):
            req.error("output", "a completed deploy carries output {"
                      "containerId, hostPort, commitSha, commitMessage, "
                      "buildLogs} (CONTRACTS 1.5)", "output")
            return
        for key, kind in DEPLOY_OUTPUT:
            value = output.get(key)
            if key not in output:
                req.error("output", "output.%s is missing (CONTRACTS 1.5)"
                          % key, key)
            elif kind is int and not (is_int(value) and 1 <= value <= 65535):
                req.error("output", "output.%s must be a port number, got %s"
                          % (key, json.dumps(value)), key)
            elif kind is str and not isinstance(value, str):
                req.error("output", "output.%s must be a string, got %s"
                          % (key, typename(value)), key)
        if isinstance(output.get("containerId"), str) and \
                not output["containerId"]:
            req.error("output", "output.containerId is empty", "containerId")

    # POST /api/paas/admin/nodes, 1.2 -----------------------------------------

    def h_admin_nodes(self, req):
        if req.bearer() != self.config["admin_token"]:
            req.error("auth", "admin route without the admin bearer token",
                      "authorization")
            return fail(401, "Unauthorized")
        body = req.obj()
        if not js_truthy(body.get("name")) or \
                not js_truthy(body.get("region")):
            req.error("required", "name and region are required", "name")
            return fail(400, "Name and region are required")
        node = self.new_node({"name": body["name"], "region": body["region"],
                              "host_address": body.get("host_address")})
        url = "http://127.0.0.1:%d" % self.port
        script = ("#!/bin/sh\n# SkyPanel PaaS agent install (mock)\n"
                  "export CONTROL_PLANE_URL=%s\n"
                  "export REGISTRATION_TOKEN=%s\n" % (
                      url, node["registration_token"]))
        return 201, {"success": True,
                     "node": {"id": node["id"], "name": node["name"],
                              "region": node["region"], "status": "pending"},
                     "registration_token": node["registration_token"],
                     "install_script": script}

    # /_mock/ -----------------------------------------------------------------

    def admin(self, method, parts, query, body):
        if parts == ["nodes"] and method == "GET":
            return 200, [self.node_view(n) for n in self.nodes.values()]
        if parts == ["nodes"] and method == "POST":
            spec = body if isinstance(body, dict) else {}
            return 201, self.node_view(self.new_node(spec))
        if len(parts) == 2 and parts[0] == "nodes":
            node = self.nodes.get(pg_int(parts[1]))
            if node is None:
                raise AdminError(404, "no node %s" % parts[1])
            if method == "GET":
                return 200, self.node_view(node)
            if method == "DELETE":
                del self.nodes[node["id"]]
                return 200, {"ok": True}
            if method == "POST":
                allowed = ("status", "jwt_secret", "registration_token",
                           "name", "region", "host_address")
                for key, value in (body or {}).items():
                    if key not in allowed:
                        raise AdminError(400, "can change only %s"
                                         % ", ".join(allowed))
                    node[key] = value
                return 200, self.node_view(node)
        if parts == ["tasks"] and method == "GET":
            return 200, list(self.tasks.values())
        if parts == ["tasks"] and method == "POST":
            specs = body if isinstance(body, list) else [body]
            return 201, [self.queue_task(s) for s in specs]
        if len(parts) == 2 and parts[0] == "tasks" and method == "GET":
            task = self.tasks.get(pg_int(parts[1]))
            if task is None:
                raise AdminError(404, "no task %s" % parts[1])
            return 200, task
        if parts == ["expire"] and method == "POST":
            self.expired_before = int(self.now())
            return 200, {"expired_before": self.expired_before}
        if parts == ["jwt"] and method == "POST":
            node = self.nodes.get(body.get("node_id"))
            if node is None or not node["jwt_secret"]:
                raise AdminError(404, "no registered node %s"
                                 % body.get("node_id"))
            now = int(self.now())
            payload = {"nodeId": node["id"], "iat": now,
                       "exp": now + int(body.get("ttl", 300))}
            return 200, {"token": mint_jwt(payload, node["jwt_secret"])}
        return None

    def queue_task(self, spec):
        if not isinstance(spec, dict) or "task_type" not in spec:
            raise AdminError(400, "a task needs at least task_type")
        spec = dict(spec)
        node_id = spec.pop("node_id", None)
        if node_id is None and self.nodes:
            node_id = min(self.nodes)
        if node_id not in self.nodes:
            raise AdminError(400, "no node %s" % node_id)
        priority = spec.pop("priority", 0)
        redeliver = spec.pop("redeliver", 0)
        status = spec.pop("status", "pending")
        task_id = spec.pop("id", self.next_task)
        if not is_int(task_id) or task_id in self.tasks:
            raise AdminError(400, "task id must be a new integer")
        if not is_num(priority) or not is_int(redeliver):
            raise AdminError(400, "priority is a number, redeliver a count")
        self.next_task = max(self.next_task, task_id) + 1
        task = {"id": task_id, "task_type": spec.pop("task_type"),
                "application_id": spec.pop("application_id", None),
                "task_data": spec.pop("task_data", None)}
        if task["task_data"] is None:
            task["task_data"] = (example_deploy_data()
                                 if task["task_type"] == "deploy" else {})
        task.update(spec)   # anything else is delivered verbatim (1.8)
        self.tasks[task_id] = {
            "id": task_id, "node_id": node_id, "priority": priority,
            "created": time.time(), "status": status, "redeliver": redeliver,
            "deliveries": 0, "updates": [], "result": None,
            "acknowledged_at": None, "completed_at": None, "task": task}
        return self.tasks[task_id]


if __name__ == "__main__":
    sys.exit(main(SkyPanel))
