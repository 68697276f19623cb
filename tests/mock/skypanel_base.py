"""skypanel_base.py: the machinery the two SkyPanel mocks share.

skypanel_cp.py (seed 000) and skypanel_v2_cp.py (seed 001) both imitate an
Express application: express.json() parses the body before any route runs,
answers are JSON, and an unknown route gets Express's "Cannot GET /x" page.
This module holds that part, the record of what the agent sent, the list
of validation errors the mock raised, failure injection and the /_mock/
admin interface.  A mock subclasses App, lists its ROUTES and DEFAULTS,
and implements reset_state(), snapshot() and (optionally) admin().

Not a test itself; it is imported by the two mocks, which put their own
directory first on sys.path when run as scripts.
"""

import argparse
import datetime
import ipaddress
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

READ_CAP = 32 * 1024 * 1024     # never buffer more than this from a client
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
                     r"(Z|[+-]\d{2}:?\d{2})$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                  r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PG_INT = re.compile(r"^[+-]?\d{1,18}$")


# -- JavaScript-flavoured value tests ---------------------------------------

def js_truthy(v):
    """What `if (!v)` in the server decides: null, false, 0, "" are out."""
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, str):
        return v != ""
    return True     # objects and arrays, even empty ones, are truthy in JS


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v):
    """A JSON number Postgres would take for an integer column (5.0 is 5)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, float) and v.is_integer()


def is_iso8601(v):
    return isinstance(v, str) and ISO8601.match(v) is not None


def is_uuid(v):
    return isinstance(v, str) and UUID.match(v) is not None


def is_ip(v):
    try:
        ipaddress.ip_address(v)
        return True
    except (ValueError, TypeError):
        return False


def pg_int(text):
    """A path parameter as Postgres would read it for an integer id, or None
    where the query would fail (the route's catch answers 500 then)."""
    return int(text) if PG_INT.match(text or "") else None


def iso_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def typename(v):
    if v is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string",
            list: "array", dict: "object"}.get(type(v), type(v).__name__)


# -- one request ------------------------------------------------------------

class Request:
    """One call from the agent: what it sent and the errors it earned."""

    def __init__(self, app, method, path, query, headers, raw):
        self.app = app
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers          # lower-case names
        self.raw = raw
        self.body = {}                  # what express.json() leaves
        self.parsed = False             # body came from JSON the agent sent
        self.seq = 0
        self.route = None
        self.errors = []

    def obj(self):
        """The body when it is a JSON object, else {} (fields undefined)."""
        return self.body if isinstance(self.body, dict) else {}

    def error(self, rule, message, field=None):
        entry = {"seq": self.seq, "time": time.time(), "method": self.method,
                 "path": self.path, "route": self.route, "rule": rule,
                 "field": field, "message": message, "status": None}
        self.errors.append(entry)
        self.app.errors.append(entry)

    def bearer(self):
        value = self.headers.get("authorization")
        if value is None or not value.startswith("Bearer "):
            return None
        return value[7:]


# -- the application --------------------------------------------------------

class AdminError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


class App:
    NAME = "mock"
    DESCRIPTION = ""
    ROUTES = ()         # (method, regex, handler method name, route name)
    DEFAULTS = {}       # settings POST /_mock/config may change
    CHOICES = {}        # setting -> allowed values

    def __init__(self, opts):
        self.opts = opts
        self.cond = threading.Condition(threading.RLock())
        self.initial_config = json.loads(json.dumps(self.DEFAULTS))
        if getattr(opts, "config", None):
            self.apply_config(self.initial_config, json.loads(opts.config))
        self.routes = [(m, re.compile("^" + rx + "/?$"), getattr(self, h), n)
                       for (m, rx, h, n) in self.ROUTES]
        self.port = 0
        self.reset_all()

    # state -----------------------------------------------------------------

    def reset_all(self):
        self.requests = []
        self.errors = []
        self.fails = []
        self.seq = 0
        self.config = json.loads(json.dumps(self.initial_config))
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def snapshot(self):
        raise NotImplementedError

    def admin(self, method, parts, query, body):
        """Mock-specific /_mock/ endpoints; None when no route matches."""
        return None

    def now(self):
        return time.time()

    def apply_config(self, config, changes):
        if not isinstance(changes, dict):
            raise AdminError(400, "config must be a JSON object")
        for key, value in changes.items():
            if key not in self.DEFAULTS:
                raise AdminError(400, "unknown setting %r" % key)
            want = type(self.DEFAULTS[key])
            if want is bool and not isinstance(value, bool):
                raise AdminError(400, "%s must be a boolean" % key)
            if want in (int, float) and not is_num(value):
                raise AdminError(400, "%s must be a number" % key)
            if want is str and not isinstance(value, str):
                raise AdminError(400, "%s must be a string" % key)
            if key in self.CHOICES and value not in self.CHOICES[key]:
                raise AdminError(400, "%s must be one of %s"
                                 % (key, ", ".join(self.CHOICES[key])))
            config[key] = value

    # failure injection -------------------------------------------------------

    def take_fail(self, route):
        for rule in self.fails:
            if rule["route"] not in ("*", route) or rule["count"] == 0:
                continue
            if rule["count"] > 0:
                rule["count"] -= 1
            rule["used"] += 1
            return rule
        return None

    def fail_body(self, route, status):
        return {"success": False, "error": "Injected failure (HTTP %d)"
                % status}

    # the request path ------------------------------------------------------

    def parse_body(self, req):
        """express.json(): returns (status, body) of a refusal or None."""
        ctype = req.headers.get("content-type", "")
        media = ctype.split(";")[0].strip().lower()
        if media != "application/json":
            if req.raw:
                req.error("content-type", "a %d-byte body came with "
                          "Content-Type %r; express.json() parses only "
                          "application/json, so the route sees an empty "
                          "body" % (len(req.raw), ctype or None))
            elif req.method in ("POST", "PUT"):
                req.error("content-type", "%s without Content-Type: "
                          "application/json (the agent always sends it, "
                          "CONTRACTS 1.2/2.2)" % req.method)
            return None
        limit = self.config.get("body_limit", 100 * 1024)
        if len(req.raw) > limit:
            req.error("body-size", "body of %d bytes is over express.json()'s"
                      " limit of %d bytes" % (len(req.raw), limit))
            return 413, {"success": False, "error": "request entity too large"}
        try:
            text = req.raw.decode("utf-8")
        except UnicodeDecodeError:
            req.error("json", "body is not UTF-8")
            return 400, {"success": False, "error": "Invalid JSON body"}
        stripped = text.lstrip(" \t\r\n")
        if stripped == "":
            return None     # body-parser leaves {} for an empty body
        if stripped[0] not in "{[":
            req.error("json", "express.json() (strict) takes only an object "
                      "or an array at the top level")
            return 400, {"success": False, "error": "Invalid JSON body"}

        def refuse(name):
            raise ValueError("%s is not JSON" % name)
        try:
            req.body = json.loads(text, parse_constant=refuse)
            req.parsed = True
        except ValueError as e:
            req.error("json", "body does not parse as JSON: %s" % e)
            return 400, {"success": False, "error": "Invalid JSON body"}
        return None

    def dispatch(self, req):
        refusal = self.parse_body(req)
        if refusal is not None:
            return refusal
        for method, rx, func, name in self.routes:
            match = rx.match(req.path)
            if match and method == req.method:
                return func(req, *[unquote(g) for g in match.groups()])
        req.error("route", "no %s route for %s in the real server"
                  % (req.method, req.path))
        return 404, ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
                     "charset=\"utf-8\">\n<title>Error</title>\n</head>\n"
                     "<body>\n<pre>Cannot %s %s</pre>\n</body>\n</html>\n"
                     % (req.method, req.path))

    def route_name(self, method, path):
        for m, rx, _func, name in self.routes:
            if m == method and rx.match(path):
                return name
        return None

    def serve(self, handler, method):
        split = urlsplit(handler.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        raw = handler.read_body()
        if path == "/_mock" or path.startswith("/_mock/"):
            status, obj = self.serve_admin(method, path, query, raw)
            handler.respond(status, obj)
            return
        req = Request(self, method, path, query, headers, raw)
        with self.cond:
            self.seq += 1
            req.seq = self.seq
            req.route = self.route_name(method, path)
            record = {"seq": req.seq, "time": time.time(), "method": method,
                      "path": path, "query": query, "route": req.route,
                      "headers": headers, "body": None, "raw": None,
                      "status": None, "response": None, "errors": 0}
            self.requests.append(record)
            rule = self.take_fail(req.route or "")
        if rule is not None and rule.get("delay"):
            time.sleep(rule["delay"])
        with self.cond:
            if rule is not None and rule.get("drop"):
                status, obj = None, None
            elif rule is not None and rule.get("status"):
                self.parse_body(req)
                status = rule["status"]
                obj = rule.get("body") or self.fail_body(req.route, status)
            else:
                try:
                    status, obj = self.dispatch(req)
                except Exception as e:      # a bug in the mock, not berth
                    traceback.print_exc()
                    req.error("mock-bug", "the mock failed: %r" % e)
                    status, obj = 500, {"success": False,
                                        "error": "mock internal error"}
            if req.parsed:
                record["body"] = req.body
            elif req.raw:
                record["raw"] = req.raw.decode("utf-8", "replace")
            record["status"] = status
            record["response"] = obj
            record["errors"] = len(req.errors)
            for entry in req.errors:
                entry["status"] = status
            self.cond.notify_all()
            self.write_state()
        sys.stderr.write("%s: %s %s -> %s%s%s\n" % (
            self.NAME, method, handler.path,
            "dropped" if status is None else status,
            " [%d validation error%s: %s]" % (
                len(req.errors), "" if len(req.errors) == 1 else "s",
                ", ".join("%s %s" % (e["rule"], e["field"] or "-")
                          for e in req.errors))
            if req.errors else "",
            " (injected)" if rule is not None else ""))
        sys.stderr.flush()
        if status is None:
            handler.close_connection = True
            return
        handler.respond(status, obj)

    def write_state(self):
        if not getattr(self.opts, "state", None):
            return
        tmp = self.opts.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"requests": self.requests, "errors": self.errors,
                       "config": self.config, "fails": self.fails,
                       "state": self.snapshot()}, f, indent=1)
        os.replace(tmp, self.opts.state)

    # admin -------------------------------------------------------------------

    def serve_admin(self, method, path, query, raw):
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except ValueError as e:
            return 400, {"error": "admin body is not JSON: %s" % e}
        parts = [p for p in path.split("/") if p][1:]
        try:
            if parts == ["wait"] and method == "GET":
                return 200, self.wait(query)
            with self.cond:
                result = self.common_admin(method, parts, query, body)
                if result is None:
                    result = self.admin(method, parts, query, body)
                if result is None:
                    raise AdminError(404, "no admin endpoint %s %s"
                                     % (method, path))
                self.write_state()
                return result
        except AdminError as e:
            return e.status, {"error": str(e)}
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            return 400, {"error": "bad admin request: %r" % e}

    def common_admin(self, method, parts, query, body):
        key = (method, "/".join(parts))
        since = int(query.get("since", 0))
        if key == ("GET", "requests"):
            route = query.get("route")
            return 200, [r for r in self.requests if r["seq"] > since and
                         (route is None or r["route"] == route)]
        if key == ("GET", "errors"):
            return 200, [e for e in self.errors if e["seq"] > since]
        if key in (("DELETE", "requests"), ("POST", "clear")):
            self.requests = []
            self.errors = []
            return 200, {"ok": True}
        if key == ("POST", "reset"):
            self.reset_all()
            return 200, {"ok": True}
        if key == ("GET", "config"):
            return 200, self.config
        if key == ("POST", "config"):
            staged = dict(self.config)
            self.apply_config(staged, body)
            self.config = staged
            return 200, self.config
        if key == ("GET", "fail"):
            return 200, self.fails
        if key == ("DELETE", "fail"):
            self.fails = []
            return 200, self.fails
        if key == ("POST", "fail"):
            rules = body if isinstance(body, list) else [body]
            for rule in rules:
                self.fails.append(self.check_fail_rule(rule))
            return 200, self.fails
        if key == ("GET", "state"):
            return 200, self.snapshot()
        return None

    def check_fail_rule(self, rule):
        if not isinstance(rule, dict):
            raise AdminError(400, "a fail rule is an object")
        names = {n for (_m, _r, _h, n) in self.ROUTES} | {"*"}
        out = {"route": rule.get("route", "*"), "status": rule.get("status"),
               "count": rule.get("count", 1), "body": rule.get("body"),
               "delay": rule.get("delay", 0), "drop": rule.get("drop", False),
               "used": 0}
        unknown = set(rule) - set(out)
        if unknown:
            raise AdminError(400, "unknown fail-rule keys: %s"
                             % ", ".join(sorted(unknown)))
        if out["route"] not in names:
            raise AdminError(400, "route must be one of %s"
                             % ", ".join(sorted(names)))
        if out["status"] is not None and not (
                is_int(out["status"]) and 100 <= out["status"] <= 599):
            raise AdminError(400, "status must be an HTTP status")
        if not is_int(out["count"]) or not is_num(out["delay"]):
            raise AdminError(400, "count must be an integer (-1: always), "
                             "delay a number of seconds")
        if out["status"] is None and not out["drop"] and not out["delay"]:
            raise AdminError(400, "a fail rule needs status, drop or delay")
        return out

    def wait(self, query):
        """Block until `count` requests (of `route`, after `since`) arrived."""
        route = query.get("route")
        count = int(query.get("count", 1))
        since = int(query.get("since", 0))
        deadline = time.time() + float(query.get("timeout", 10))

        def matching():
            return [r for r in self.requests if r["seq"] > since and
                    r["status"] is not None and
                    (route is None or r["route"] == route)]
        with self.cond:
            while len(matching()) < count:
                left = deadline - time.time()
                if left <= 0:
                    break
                self.cond.wait(left)
            found = matching()
            return {"ok": len(found) >= count, "count": len(found),
                    "requests": found[:count]}


# -- HTTP -------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-express"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass    # App.serve writes one line per request itself

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip()
                           or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > READ_CAP:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > READ_CAP:
            self.close_connection = True
            length = READ_CAP
        return self.rfile.read(length) if length > 0 else b""

    def respond(self, status, obj):
        if isinstance(obj, str):
            data = obj.encode()
            ctype = "text/html; charset=utf-8"
        else:
            data = json.dumps(obj, separators=(",", ":")).encode()
            ctype = "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("X-Powered-By", "Express")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _any(self):
        try:
            self.server.app.serve(self, self.command)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(app_class, argv=None):
    parser = argparse.ArgumentParser(description=app_class.DESCRIPTION)
    parser.add_argument("--port", type=int, default=0,
                        help="port on 127.0.0.1 (0: the kernel picks; the "
                        "first line on stdout is PORT=<n>)")
    parser.add_argument("--state", metavar="FILE",
                        help="after every request, write requests, errors, "
                        "settings and state to FILE as JSON")
    parser.add_argument("--config", metavar="JSON",
                        help="initial settings, as POST /_mock/config takes")
    app_class.add_arguments(parser)
    opts = parser.parse_args(argv)
    try:
        app = app_class(opts)
    except AdminError as e:
        parser.error(str(e))
    server = Server(("127.0.0.1", opts.port), Handler)
    server.app = app
    app.port = server.server_address[1]
    with app.cond:
        app.write_state()
    sys.stdout.write("PORT=%d\n" % app.port)
    sys.stdout.flush()

    def stop(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0
