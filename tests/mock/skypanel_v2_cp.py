#!/usr/bin/env python3
"""skypanel_v2_cp.py: a mock SkyPanelV2 worker control plane (seed 001).

It answers the routes of api/routes/worker-paas.ts (mounted at
/api/paas/worker) and the app's /api/health the way the real server does
according to /work/shared/seeds/CONTRACTS.md section 2.  Like the real
server it checks no bearer token by default, but it records every call
that does not carry the current one, and everything else berth should
send but the real server would silently accept (the register superset
and its units, ISO timestamps, the deploying -> deployed/failed sequence
and its fields) as a validation error without changing the answer.
README.md beside this file lists every rule with its section.

  GET  /api/health                                    (2.3 #0)
  GET  /api/paas/worker/health                        (2.3)
  POST /api/paas/worker/register                      (2.3 #1, 2.4)
  POST /api/paas/worker/heartbeat                     (2.3 #2, 2.4)
  GET  /api/paas/worker/builds/queued                 (2.3 #3, 2.5)
  POST /api/paas/worker/builds/{deploymentId}/accept  (2.3 #4)
  POST /api/paas/worker/builds/{deploymentId}/status  (2.3 #5, 2.6)
  POST /api/paas/worker/builds/{deploymentId}/logs    (2.3 #6)
  GET  /api/paas/worker/{nodeId}/status               (2.3 #7, 2.8)
  GET  /api/paas/worker/{nodeId}/builds               (2.3)
  POST /api/paas/worker/{nodeId}/maintenance          (2.3)
  POST /api/paas/worker/{nodeId}/restart              (2.3)

Test controls live under /_mock/ (see README.md).

Usage: skypanel_v2_cp.py [--port N] [--state FILE] [--config JSON]
"""

import copy
import json
import os
import secrets
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

from skypanel_base import (AdminError, App, is_int, is_ip,  # noqa: E402
                           is_iso8601, is_num, is_uuid, iso_now, js_truthy,
                           main)

STATUSES = ("building_success", "building_failed", "deploying", "deployed",
            "deployment_failed")
TERMINAL = ("deployed", "building_failed", "deployment_failed")
NEXT = {"pending": ("deploying",),
        "deploying": ("building_success", "building_failed", "deployed",
                      "deployment_failed"),
        "building_success": ("deploying", "deployed", "deployment_failed")}
LEVELS = ("debug", "info", "warn", "error")
SHAPES = ("data.builds", "data", "builds", "bare")
SYSTEM_INFO = (("platform", "str"), ("arch", "str"), ("nodeVersion", "str"),
               ("cpuCount", "int"), ("totalMemory", "int"),
               ("freeMemory", "int"), ("uptime", "num"),
               ("loadAverage", "load"), ("hostname", "str"),
               ("networkInterfaces", "obj"))
KINDS = {"str": (lambda v: isinstance(v, str), "a string"),
         "int": (is_int, "an integer"),
         "num": (is_num, "a number"),
         "obj": (lambda v: isinstance(v, dict), "an object"),
         "bool": (lambda v: isinstance(v, bool), "a boolean"),
         "load": (lambda v: isinstance(v, list) and len(v) == 3 and
                  all(is_num(x) for x in v), "an array of 3 numbers")}


def fail(status, message):
    return status, {"success": False, "error": message}


class SkyPanelV2(App):
    NAME = "skypanel_v2_cp"
    DESCRIPTION = "mock SkyPanelV2 worker control plane (CONTRACTS.md " \
        "section 2)"
    W = r"/api/paas/worker"
    ROUTES = (
        ("GET", r"/api/health", "h_health", "health"),
        ("GET", W + r"/health", "h_worker_health", "worker_health"),
        ("POST", W + r"/register", "h_register", "register"),
        ("POST", W + r"/heartbeat", "h_heartbeat", "heartbeat"),
        ("GET", W + r"/builds/queued", "h_queued", "queued"),
        ("POST", W + r"/builds/([^/]+)/accept", "h_accept", "accept"),
        ("POST", W + r"/builds/([^/]+)/status", "h_status", "build_status"),
        ("POST", W + r"/builds/([^/]+)/logs", "h_logs", "build_logs"),
        ("GET", W + r"/([^/]+)/status", "h_node_status", "node_status"),
        ("GET", W + r"/([^/]+)/builds", "h_node_builds", "node_builds"),
        ("POST", W + r"/([^/]+)/maintenance", "h_maintenance",
         "maintenance"),
        ("POST", W + r"/([^/]+)/restart", "h_restart", "restart"),
    )
    DEFAULTS = {
        "register_shape": "data",       # data | flat
        "queued_shape": "data.builds",  # data.builds | data | builds | bare
        "queued_db_error": False,       # answer [] as on a DB error
        "refuse_heartbeats": 0,         # refuse the next n (-1: all)
        "refuse_status": 404,
        "auth_check": "record",         # off | record | enforce
        "offline_after": 300,           # markOfflineNodes, 2.4
        "body_limit": 100 * 1024,       # express.json() default
        "unit_checks": True,
    }
    CHOICES = {"register_shape": ("data", "flat"), "queued_shape": SHAPES,
               "auth_check": ("off", "record", "enforce")}
    ROUTE_500 = {"register": "Failed to register worker node",
                 "heartbeat": "Failed to process heartbeat",
                 "queued": "Failed to get queued builds",
                 "accept": "Failed to accept build",
                 "build_status": "Failed to update build status",
                 "build_logs": "Failed to add build log",
                 "node_status": "Failed to get worker status",
                 "node_builds": "Failed to get worker builds",
                 "maintenance": "Failed to update maintenance mode",
                 "restart": "Failed to restart worker"}

    @staticmethod
    def add_arguments(parser):
        pass

    # state -------------------------------------------------------------------

    def reset_state(self):
        self.workers = {}
        self.builds = {}

    def snapshot(self):
        self.sweep()
        return {"workers": list(self.workers.values()),
                "builds": list(self.builds.values())}

    def sweep(self):
        """markOfflineNodes: online workers silent too long go offline."""
        now = time.time()
        for w in self.workers.values():
            if w["status"] == "online" and \
                    now - w["lastSeen"] > self.config["offline_after"]:
                w["status"] = "offline"

    def dispatch(self, req):
        self.sweep()
        return App.dispatch(self, req)

    def fail_body(self, route, status):
        if status == 500 and route in self.ROUTE_500:
            return {"success": False, "error": self.ROUTE_500[route]}
        return App.fail_body(self, route, status)

    def new_worker(self, spec):
        now = time.time()
        worker = {"id": str(uuid.uuid4()), "name": spec.get("name"),
                  "hostname": spec.get("hostname"),
                  "ipAddress": spec.get("ipAddress"),
                  "port": spec.get("port"),
                  "capabilities": spec.get("capabilities"),
                  "maxConcurrentBuilds": spec.get("maxConcurrentBuilds"),
                  "resourceLimits": spec.get("resourceLimits"),
                  "metadata": {}, "status": spec.get("status", "online"),
                  "authToken": secrets.token_hex(32), "staleTokens": [],
                  "currentBuilds": 0, "lastHeartbeat": None,
                  "lastSeen": now, "registeredAt": now, "registrations": 0,
                  "heartbeats": 0, "restartRequests": 0,
                  "maintenanceReason": None, "expired": False}
        self.workers[worker["id"]] = worker
        return worker

    # helpers -----------------------------------------------------------------

    def check_kind(self, req, where, key, value, kind):
        test, words = KINDS[kind]
        if not test(value):
            req.error("type", "%s%s must be %s, got %s" % (
                where, key, words, json.dumps(value)), key)
            return False
        return True

    def check_auth(self, req, worker=None):
        """The real server checks no token (2.3); this records (or, with
        auth_check enforce, refuses) calls without the current one."""
        mode = self.config["auth_check"]
        if mode == "off":
            return None
        token = req.bearer()
        if worker is not None:
            ok = token is not None and token == worker["authToken"]
            whose = "worker %s's current authToken" % worker["id"]
        else:
            ok = token is not None and any(
                token == w["authToken"] for w in self.workers.values())
            whose = "the current authToken of a registered worker"
        if ok:
            return None
        if token is None:
            why = "no 'Authorization: Bearer <authToken>' header"
        elif worker is not None and token in worker["staleTokens"]:
            why = "a superseded authToken (the worker re-registered since)"
        else:
            why = "a bearer that is not %s" % whose
        req.error("auth", "%s; after registration every call carries %s "
                  "(CONTRACTS 2.2)" % (why, whose), "authorization")
        if mode == "enforce":
            return fail(401, "Unauthorized")
        return None

    def worker_for(self, req, node_id, missing_status, missing_message):
        """(worker, None) or (None, refusal).  A node id that is no uuid
        makes the query fail (500); an unknown one gets missing_status."""
        if node_id is not None and not is_uuid(node_id):
            req.error("type", "nodeId %s is not a uuid; the query fails and "
                      "the route answers 500" % json.dumps(node_id), "nodeId")
            return None, fail(500, self.ROUTE_500[req.route])
        worker = self.workers.get(node_id.lower() if node_id else None)
        if worker is None:
            req.error("unknown-node", "no worker %s" % json.dumps(node_id),
                      "nodeId")
            return None, fail(missing_status, missing_message)
        return worker, None

    def build_for(self, req, dep_id, missing_status=404,
                  missing_message="Deployment not found"):
        if not is_uuid(dep_id):
            req.error("type", "deploymentId %r is not a uuid; the query "
                      "fails and the route answers 500" % dep_id,
                      "deploymentId")
            return None, fail(500, self.ROUTE_500[req.route])
        build = self.builds.get(dep_id.lower())
        if build is None:
            req.error("unknown-build", "no deployment %s" % dep_id,
                      "deploymentId")
            return None, fail(missing_status, missing_message)
        return build, None

    # health, 2.3 #0 ----------------------------------------------------------

    def h_health(self, req):
        return 200, {"success": True, "status": "ok", "timestamp": iso_now()}

    def h_worker_health(self, req):
        return 200, {"success": True, "data": {
            "status": "healthy", "timestamp": iso_now(), "version": "1.0.0"}}

    # POST /register, 2.4 -----------------------------------------------------

    def h_register(self, req):
        body = req.obj()
        missing = [k for k in ("name", "hostname", "ipAddress")
                   if not js_truthy(body.get(k))]
        if missing:
            for key in missing:
                req.error("required", "%s is missing or falsy (CONTRACTS "
                          "2.3 #1)" % key, key)
            return fail(400, "Missing required fields: name, hostname, "
                        "ipAddress")
        for key in ("name", "hostname", "ipAddress"):
            self.check_kind(req, "", key, body[key], "str")
        if isinstance(body["ipAddress"], str) and not is_ip(body["ipAddress"]):
            req.error("value", "ipAddress %r is not an IP address"
                      % body["ipAddress"], "ipAddress")
        typed = True
        for key, low, high in (("port", 1, 65535),
                               ("maxConcurrentBuilds", 1, 10)):
            if key not in body:
                req.error("superset", "%s is missing (CONTRACTS 2.4)" % key,
                          key)
            elif not self.check_kind(req, "", key, body[key], "int"):
                typed = False       # an integer column: the insert fails
            elif not low <= body[key] <= high:
                req.error("range", "%s = %s is outside %d..%d (CONTRACTS "
                          "2.1)" % (key, body[key], low, high), key)
        self.check_register_objects(req, body)
        if not typed:
            return fail(500, "Failed to register worker node")
        worker = next((w for w in self.workers.values()
                       if w["hostname"] == body["hostname"]
                       or w["ipAddress"] == body["ipAddress"]), None)
        if worker is None:
            worker = self.new_worker({})
        else:
            worker["staleTokens"].append(worker["authToken"])
            worker["authToken"] = secrets.token_hex(32)
        for key in ("name", "hostname", "ipAddress", "port", "capabilities",
                    "maxConcurrentBuilds", "resourceLimits"):
            worker[key] = body.get(key)
        worker["metadata"] = dict(body.get("systemInfo") or {}) \
            if isinstance(body.get("systemInfo"), dict) else {}
        worker["metadata"]["registered_at"] = iso_now()
        worker["status"] = "online"
        worker["expired"] = False
        worker["lastSeen"] = time.time()
        worker["registrations"] += 1
        worker["registeredAt"] = time.time()
        creds = {"nodeId": worker["id"], "authToken": worker["authToken"]}
        message = "Worker node registered successfully"
        if self.config["register_shape"] == "flat":
            answer = {"success": True}
            answer.update(creds)
            answer["message"] = message
            return 201, answer
        return 201, {"success": True, "data": creds, "message": message}

    def check_register_objects(self, req, body):
        caps = body.get("capabilities")
        if "capabilities" not in body:
            req.error("superset", "capabilities is missing (CONTRACTS 2.4)",
                      "capabilities")
        elif self.check_kind(req, "", "capabilities", caps, "obj"):
            for key in ("nodejs", "docker", "git"):
                if key not in caps:
                    req.error("superset", "capabilities.%s is missing "
                              "(CONTRACTS 2.4)" % key, key)
                else:
                    self.check_kind(req, "capabilities.", key, caps[key],
                                    "bool")
        limits = body.get("resourceLimits")
        if "resourceLimits" not in body:
            req.error("superset", "resourceLimits is missing (CONTRACTS 2.4)",
                      "resourceLimits")
        elif self.check_kind(req, "", "resourceLimits", limits, "obj"):
            minutes = limits.get("buildTimeoutMinutes")
            if "buildTimeoutMinutes" not in limits:
                req.error("superset", "resourceLimits.buildTimeoutMinutes is "
                          "missing (CONTRACTS 2.4)", "buildTimeoutMinutes")
            elif self.check_kind(req, "resourceLimits.",
                                 "buildTimeoutMinutes", minutes, "int") and \
                    not 1 <= minutes <= 120:
                req.error("range", "resourceLimits.buildTimeoutMinutes = %s "
                          "is outside 1..120 (CONTRACTS 2.1)" % minutes,
                          "buildTimeoutMinutes")
            if "workspaceDir" not in limits:
                req.error("superset", "resourceLimits.workspaceDir is missing"
                          " (CONTRACTS 2.4)", "workspaceDir")
            else:
                self.check_kind(req, "resourceLimits.", "workspaceDir",
                                limits["workspaceDir"], "str")
        info = body.get("systemInfo")
        if "systemInfo" not in body:
            req.error("superset", "systemInfo is missing (CONTRACTS 2.4)",
                      "systemInfo")
            return
        if not self.check_kind(req, "", "systemInfo", info, "obj"):
            return
        typed = {}
        for key, kind in SYSTEM_INFO:
            if key not in info:
                req.error("superset", "systemInfo.%s is missing (CONTRACTS "
                          "2.4)" % key, key)
            elif self.check_kind(req, "systemInfo.", key, info[key], kind):
                typed[key] = info[key]
        if not self.config["unit_checks"]:
            return
        total, free = typed.get("totalMemory"), typed.get("freeMemory")
        if total is not None and total < 64 * 1024 * 1024:
            req.error("units", "systemInfo.totalMemory = %s is under 64 MiB:"
                      " it is bytes (CONTRACTS 2.4)" % total, "totalMemory")
        if free is not None and (free < 0 or total is not None and
                                 free > total):
            req.error("units", "systemInfo.freeMemory = %s is not between 0 "
                      "and totalMemory (bytes, CONTRACTS 2.4)" % free,
                      "freeMemory")
        if typed.get("cpuCount") is not None and typed["cpuCount"] < 1:
            req.error("range", "systemInfo.cpuCount must be at least 1",
                      "cpuCount")
        if typed.get("uptime") is not None and typed["uptime"] < 0:
            req.error("range", "systemInfo.uptime is seconds, not negative",
                      "uptime")
        if typed.get("loadAverage") and min(typed["loadAverage"]) < 0:
            req.error("range", "systemInfo.loadAverage has a negative value",
                      "loadAverage")

    # POST /heartbeat, 2.4 ----------------------------------------------------

    def refusal(self, status):
        body = {404: "Worker node not found", 401: "Unauthorized",
                403: "Worker node not found or not online",
                500: "Failed to process heartbeat"}
        return fail(status, body.get(status, "Heartbeat refused"))

    def h_heartbeat(self, req):
        body = req.obj()
        node_id = body.get("nodeId")
        if not js_truthy(node_id):
            req.error("required", "nodeId is missing (CONTRACTS 2.3 #2)",
                      "nodeId")
            return fail(400, "Node ID is required")
        if self.config["refuse_heartbeats"] != 0:
            if self.config["refuse_heartbeats"] > 0:
                self.config["refuse_heartbeats"] -= 1
            return self.refusal(self.config["refuse_status"])
        worker, refusal = self.worker_for(req, node_id, 404,
                                          "Worker node not found")
        if refusal:
            return refusal
        if worker["expired"] and req.bearer() != worker["authToken"]:
            # /_mock/expire: refused until the worker registers again
            return self.refusal(self.config["refuse_status"])
        refusal = self.check_auth(req, worker)
        if refusal:
            return refusal
        if "timestamp" not in body:
            req.error("superset", "timestamp is missing (CONTRACTS 2.3 #2)",
                      "timestamp")
        elif not is_iso8601(body["timestamp"]):
            req.error("type", "timestamp must be an ISO 8601 string, got %s"
                      % json.dumps(body["timestamp"]), "timestamp")
        rest = {k: v for k, v in body.items() if k != "nodeId"}
        rest["last_heartbeat"] = iso_now()
        worker["metadata"].update(rest)
        worker["lastHeartbeat"] = time.time()
        worker["lastSeen"] = time.time()
        worker["heartbeats"] += 1
        if worker["status"] == "offline":
            worker["status"] = "online"
        return 200, {"success": True, "message": "Heartbeat received"}

    # GET /builds/queued, 2.5 -------------------------------------------------

    def h_queued(self, req):
        refusal = self.check_auth(req)
        if refusal:
            return refusal
        builds = []
        if not self.config["queued_db_error"]:
            due = [b for b in self.builds.values() if b["status"] == "pending"]
            due.sort(key=lambda b: (b["created"], b["order"]))
            for b in due:
                b["deliveries"] += 1
                builds.append(copy.deepcopy(b["build"]))
        shape = self.config["queued_shape"]
        if shape == "data.builds":
            return 200, {"success": True, "data": {"builds": builds}}
        if shape == "data":
            return 200, {"success": True, "data": builds}
        if shape == "builds":
            return 200, {"success": True, "builds": builds}
        return 200, builds

    # POST /builds/{id}/accept, 2.3 #4 ----------------------------------------

    def online_worker(self, req, node_id):
        worker, refusal = self.worker_for(
            req, node_id, 403, "Worker node not found or not online")
        if refusal:
            return None, refusal
        if worker["status"] != "online":
            req.error("not-online", "worker %s is %s, not online" % (
                worker["id"], worker["status"]), "nodeId")
            return None, fail(403, "Worker node not found or not online")
        return worker, None

    def h_accept(self, req, dep_id):
        body = req.obj()
        node_id = body.get("nodeId")
        if node_id is None:
            req.error("required", "nodeId is missing (CONTRACTS 2.3 #4)",
                      "nodeId")
        worker, refusal = self.online_worker(req, node_id)
        if refusal:
            return refusal
        refusal = self.check_auth(req, worker)
        if refusal:
            return refusal
        build = self.builds.get(dep_id.lower()) if is_uuid(dep_id) else None
        if build is None:
            req.error("unknown-build", "accepted deployment %r, which was "
                      "never queued (the server does not check)" % dep_id,
                      "deploymentId")
        else:
            if build["status"] != "pending":
                req.error("sequence", "accepted deployment %s, which is "
                          "already %s" % (dep_id, build["status"]),
                          "deploymentId")
            build["accepts"].append({"seq": req.seq, "time": time.time(),
                                     "nodeId": worker["id"]})
        return 200, {"success": True, "message": "Build job accepted"}

    # POST /builds/{id}/status, 2.6 -------------------------------------------

    def h_status(self, req, dep_id):
        body = req.obj()
        node_id, status = body.get("nodeId"), body.get("status")
        if not js_truthy(node_id) or not js_truthy(status):
            for key in ("nodeId", "status"):
                if not js_truthy(body.get(key)):
                    req.error("required", "%s is missing (CONTRACTS 2.3 #5)"
                              % key, key)
            return fail(400, "Missing required fields: nodeId, status")
        if status not in STATUSES:
            req.error("value", "status %s is not one of %s (CONTRACTS 2.6)"
                      % (json.dumps(status), ", ".join(STATUSES)), "status")
            return fail(400, "Invalid status. Must be one of: "
                        + ", ".join(STATUSES))
        worker, refusal = self.online_worker(req, node_id)
        if refusal:
            return refusal
        build, refusal = self.build_for(req, dep_id)
        if refusal:
            return refusal
        refusal = self.check_auth(req, worker)
        if refusal:
            return refusal
        self.check_status(req, build, worker, body, status)
        now = time.time()
        previous = build["status"]
        build["status"] = status
        build["build"]["status"] = status
        build["worker"] = worker["id"]
        if "logs" in body and body["logs"] is not None:
            build["logs"] = body["logs"]
        if body.get("errorMessage") is not None:
            build["errorMessage"] = body["errorMessage"]
        if body.get("result") is not None:
            build["result"] = body["result"]
            build["build"]["metadata"] = dict(
                build["build"].get("metadata") or {},
                build_result=body["result"])
        if status in ("building_success", "building_failed"):
            build["build_completed_at"] = now
        if status in ("deployed", "deployment_failed"):
            build["deployment_completed_at"] = now
        if status in TERMINAL and previous not in TERMINAL:
            worker["currentBuilds"] = max(0, worker["currentBuilds"] - 1)
            build["appStatus"] = "running" if status == "deployed" \
                else "failed"
        build["updates"].append({"seq": req.seq, "time": now,
                                 "nodeId": worker["id"], "status": status,
                                 "logs": body.get("logs"),
                                 "errorMessage": body.get("errorMessage"),
                                 "result": body.get("result")})
        return 200, {"success": True, "message": "Build status updated"}

    def check_status(self, req, build, worker, body, status):
        """Recorded only: the sequence and fields of 2.6."""
        previous = build["status"]
        if previous in TERMINAL:
            req.error("sequence", "deployment %s is already %s, now %s"
                      % (build["id"], previous, status), "status")
        elif status not in NEXT.get(previous, ()):
            req.error("sequence", "deployment %s went %s -> %s; the agent "
                      "posts deploying first, then deployed or a failure "
                      "(CONTRACTS 2.6)" % (build["id"], previous, status),
                      "status")
        if not any(a["nodeId"] == worker["id"] for a in build["accepts"]):
            req.error("sequence", "worker %s posted status for %s without "
                      "accepting it first (CONTRACTS 2.3 #4)"
                      % (worker["id"], build["id"]), "nodeId")
        if build["worker"] is not None and build["worker"] != worker["id"]:
            req.error("sequence", "status for %s from worker %s, but worker "
                      "%s reported it before" % (build["id"], worker["id"],
                                                 build["worker"]), "nodeId")
        if "logs" not in body:
            req.error("superset", "logs is missing; the agent sends the lines"
                      " so far joined with \\n (CONTRACTS 2.6)", "logs")
        else:
            self.check_kind(req, "", "logs", body["logs"], "str")
        if "errorMessage" in body and body["errorMessage"] is not None:
            self.check_kind(req, "", "errorMessage", body["errorMessage"],
                            "str")
        result = body.get("result")
        if result is not None:
            self.check_kind(req, "", "result", result, "obj")
        if status == "deployed":
            if not isinstance(result, dict):
                req.error("required", "deployed carries result {imageId, "
                          "containerId} (CONTRACTS 2.6)", "result")
            else:
                for key in ("imageId", "containerId"):
                    if key not in result:
                        req.error("required", "result.%s is missing "
                                  "(CONTRACTS 2.6)" % key, key)
                    elif self.check_kind(req, "result.", key, result[key],
                                         "str") and not result[key]:
                        req.error("value", "result.%s is empty" % key, key)
        if status in ("building_failed", "deployment_failed"):
            message = body.get("errorMessage")
            if not isinstance(message, str) or not message:
                req.error("required", "%s carries a non-empty errorMessage "
                          "(CONTRACTS 2.6)" % status, "errorMessage")

    # POST /builds/{id}/logs, 2.3 #6 ------------------------------------------

    def h_logs(self, req, dep_id):
        body = req.obj()
        missing = [k for k in ("nodeId", "level", "message")
                   if not js_truthy(body.get(k))]
        if missing:
            for key in missing:
                req.error("required", "%s is missing (CONTRACTS 2.3 #6)" % key,
                          key)
            return fail(400, "Missing required fields: nodeId, level, "
                        "message")
        if body["level"] not in LEVELS:
            req.error("value", "level %s is not one of %s (CONTRACTS 2.3 #6)"
                      % (json.dumps(body["level"]), ", ".join(LEVELS)),
                      "level")
            return fail(400, "Invalid log level. Must be one of: "
                        + ", ".join(LEVELS))
        build, refusal = self.build_for(req, dep_id, 500,
                                        "Failed to add build log")
        if refusal:
            return refusal
        worker = self.workers.get(body["nodeId"]) \
            if isinstance(body["nodeId"], str) else None
        if worker is None:
            req.error("unknown-node", "log from unknown worker %s"
                      % json.dumps(body["nodeId"]), "nodeId")
        refusal = self.check_auth(req, worker)
        if refusal:
            return refusal
        self.check_kind(req, "", "message", body["message"], "str")
        if "timestamp" not in body:
            req.error("superset", "timestamp is missing (CONTRACTS 2.3 #6)",
                      "timestamp")
        elif not is_iso8601(body["timestamp"]):
            req.error("type", "timestamp must be an ISO 8601 string, got %s"
                      % json.dumps(body["timestamp"]), "timestamp")
        if body.get("metadata") is not None:
            self.check_kind(req, "", "metadata", body["metadata"], "obj")
        build["logEntries"].append({
            "seq": req.seq, "nodeId": body["nodeId"], "level": body["level"],
            "message": body["message"], "timestamp": body.get("timestamp"),
            "metadata": body.get("metadata")})
        return 200, {"success": True, "message": "Log entry added"}

    # /{nodeId}/..., 2.3 ------------------------------------------------------

    def h_node_status(self, req, node_id):
        worker, refusal = self.worker_for(req, node_id, 404,
                                          "Worker node not found")
        if refusal:
            return refusal
        refusal = self.check_auth(req, worker)
        if refusal:
            return refusal
        return 200, {"success": True, "data": {
            "worker": self.public_worker(worker),
            "systemStats": {
                "currentBuilds": worker["currentBuilds"],
                "maxConcurrentBuilds": worker["maxConcurrentBuilds"],
                "totalBuilds": sum(1 for b in self.builds.values()
                                   if b["worker"] == worker["id"]),
                "lastHeartbeat": worker["metadata"].get("last_heartbeat"),
                "systemInfo": {k: worker["metadata"].get(k)
                               for k, _kind in SYSTEM_INFO}}}}

    def public_worker(self, worker):
        return {k: worker[k] for k in (
            "id", "name", "hostname", "ipAddress", "port", "status",
            "capabilities", "maxConcurrentBuilds", "currentBuilds",
            "resourceLimits", "metadata")}

    def h_node_builds(self, req, node_id):
        worker, refusal = self.worker_for(req, node_id, 404,
                                          "Worker node not found")
        if refusal:
            return refusal
        mine = [dict(b["build"], status=b["status"])
                for b in self.builds.values() if b["worker"] == worker["id"]
                or any(a["nodeId"] == worker["id"] for a in b["accepts"])]
        return 200, {"success": True, "data": {"builds": mine}}

    def h_maintenance(self, req, node_id):
        body = req.obj()
        if not isinstance(body.get("enabled"), bool):
            req.error("type", "enabled must be a boolean", "enabled")
            return fail(400, "enabled must be a boolean")
        worker, refusal = self.worker_for(req, node_id, 404,
                                          "Worker node not found")
        if refusal:
            return refusal
        worker["status"] = "maintenance" if body["enabled"] else "online"
        worker["maintenanceReason"] = body.get("reason")
        worker["lastSeen"] = time.time()
        return 200, {"success": True, "message": "Maintenance mode %s"
                     % ("enabled" if body["enabled"] else "disabled")}

    def h_restart(self, req, node_id):
        worker, refusal = self.worker_for(req, node_id, 404,
                                          "Worker node not found")
        if refusal:
            return refusal
        worker["restartRequests"] += 1
        return 200, {"success": True,
                     "message": "Restart command sent to worker node"}

    # /_mock/ -----------------------------------------------------------------

    def admin(self, method, parts, query, body):
        self.sweep()
        if parts == ["workers"] and method == "GET":
            return 200, list(self.workers.values())
        if parts == ["workers"] and method == "POST":
            spec = body if isinstance(body, dict) else {}
            worker = self.new_worker(spec)
            if "age" in spec:
                worker["lastSeen"] = time.time() - spec["age"]
            return 201, worker
        if len(parts) == 2 and parts[0] == "workers":
            worker = self.workers.get(parts[1])
            if worker is None:
                raise AdminError(404, "no worker %s" % parts[1])
            if method == "GET":
                return 200, worker
            if method == "DELETE":
                del self.workers[worker["id"]]
                return 200, {"ok": True}
            if method == "POST":
                for key, value in (body or {}).items():
                    if key == "age":
                        worker["lastSeen"] = time.time() - value
                    elif key in ("status", "authToken", "name", "hostname",
                                 "ipAddress"):
                        if key == "authToken":
                            worker["staleTokens"].append(worker["authToken"])
                        worker[key] = value
                    else:
                        raise AdminError(400, "can change status, authToken, "
                                         "name, hostname, ipAddress, age")
                return 200, worker
        if parts == ["builds"] and method == "GET":
            return 200, list(self.builds.values())
        if parts == ["builds"] and method == "POST":
            specs = body if isinstance(body, list) else [body]
            return 201, [self.queue_build(s) for s in specs]
        if len(parts) == 2 and parts[0] == "builds" and method == "GET":
            build = self.builds.get(parts[1].lower())
            if build is None:
                raise AdminError(404, "no deployment %s" % parts[1])
            return 200, build
        if parts == ["expire"] and method == "POST":
            for worker in self.workers.values():
                worker["staleTokens"].append(worker["authToken"])
                worker["authToken"] = secrets.token_hex(32)
                worker["expired"] = True
            return 200, {"ok": True}
        return None

    def queue_build(self, spec):
        if not isinstance(spec, dict):
            raise AdminError(400, "a build is a JSON object")
        spec = dict(spec)
        dep_id = spec.pop("deploymentId", None) or str(uuid.uuid4())
        if not is_uuid(dep_id) or dep_id.lower() in self.builds:
            raise AdminError(400, "deploymentId must be a new uuid")
        dep_id = dep_id.lower()
        build = {"deploymentId": dep_id,
                 "appId": spec.pop("appId", None) or str(uuid.uuid4()),
                 "version": spec.pop("version", "v1"),
                 "status": "pending",
                 "createdAt": spec.pop("createdAt", None) or iso_now(),
                 "organizationId": spec.pop("organizationId", None)
                 or str(uuid.uuid4()),
                 "githubRepoUrl": spec.pop(
                     "githubRepoUrl", "https://example.invalid/acme/app.git"),
                 "githubBranch": spec.pop("githubBranch", "main"),
                 "dockerfilePath": spec.pop("dockerfilePath", None),
                 "buildCommand": spec.pop("buildCommand", None),
                 "environmentVariables": spec.pop("environmentVariables", {}),
                 "metadata": spec.pop("metadata", {})}
        status = spec.pop("status", "pending")
        build.update(spec)      # anything else is delivered verbatim
        build["status"] = status
        self.builds[dep_id] = {
            "id": dep_id, "status": status, "created": time.time(),
            "order": len(self.builds), "deliveries": 0, "accepts": [],
            "updates": [], "logEntries": [], "logs": None,
            "errorMessage": None, "result": None, "worker": None,
            "appStatus": None, "build_completed_at": None,
            "deployment_completed_at": None, "build": build}
        return self.builds[dep_id]


if __name__ == "__main__":
    sys.exit(main(SkyPanelV2))
