"""The native protocol over HTTP(S): routing, authentication, answers.

ControlPlane is the only object with mutable state: the store, the
settings, the nonce cache that stops request replays, the per-node public
keys, and the condition long-polls wait on.  Handler turns one HTTP
request into one call on it and one JSON answer; every refusal travels as
a ProtocolError and is written in exactly one place (_send_error).

Long-polls learn about new work from three directions: a write by this
process calls notify_changed(); the CLI, after committing a new task or a
cancel, sends one datagram to the wake socket beside the database
(store.py, Store.poke_server), which a watcher thread blocks on; and for
any other writer the watcher also reads SQLite's data_version every
50 ms.  The socket is what keeps enqueue-to-answer latency near a
millisecond without a busy polling loop.
"""

import collections
import contextlib
import dataclasses
import email.utils
import http.server
import json
import os
import re
import select
import socket
import socketserver
import sqlite3
import ssl
import stat
import sys
import threading
import time
import traceback

import ed25519
import schema
from errors import ProtocolError
from store import Store
from wire import (CLOCK_SKEW_SEC, MAX_LOG_CHUNK_BYTES, MAX_REQUEST_BYTES,
                  MAX_SAFE_INTEGER, WireError, b64url_decode, b64url_encode,
                  dump_json, parse_json, parse_signature_header,
                  request_signing_bytes, task_signing_bytes)

MAX_POLL_WAIT_SEC = 60
WATCH_INTERVAL_SEC = 0.05	# data_version checks when the wake socket works
WATCH_INTERVAL_FALLBACK_SEC = 0.005	# ... and when it could not be bound
SWEEP_INTERVAL_SEC = 1.0

_ID = r"([A-Za-z0-9_-]{1,64})"
ROUTES = (
    ("POST", re.compile(r"/v1/enrol"), "enrol"),
    ("POST", re.compile(r"/v1/nodes/%s/heartbeat" % _ID), "heartbeat"),
    ("GET", re.compile(r"/v1/nodes/%s/tasks" % _ID), "poll"),
    ("POST", re.compile(r"/v1/nodes/%s/tasks/%s/accept" % (_ID, _ID)),
     "accept"),
    ("POST", re.compile(r"/v1/nodes/%s/tasks/%s/events" % (_ID, _ID)),
     "events"),
    ("POST", re.compile(r"/v1/nodes/%s/tasks/%s/logs" % (_ID, _ID)), "logs"),
)

# What the HTTP library's own refusals (bad request line, headers too
# long) become in our error format.
_LIBRARY_STATUS_CODES = {400: "bad_request", 408: "bad_request",
                         413: "too_large", 414: "too_large",
                         431: "too_large", 501: "method_not_allowed",
                         505: "bad_request"}


@dataclasses.dataclass
class Settings:
    """What `berth-cp serve` was told; the intervals go to the nodes."""
    heartbeat_sec: int = 30
    poll_timeout_sec: int = 30
    retry_max_sec: int = 300
    report_timeout_sec: int = 300
    sign_tasks: bool = False
    clock_skew_sec: int = CLOCK_SKEW_SEC
    fail_next: int = 0		# test-only: answer that many requests 503
    fail: dict = None		# test-only: how they fail (FailSwitch.DEFAULT)
    clock_offset_sec: int = 0	# test-only: pretend our clock is this far off
    verbose: bool = False

    def intervals(self):
        return {"heartbeat_sec": self.heartbeat_sec,
                "poll_timeout_sec": self.poll_timeout_sec,
                "retry_max_sec": self.retry_max_sec,
                "report_timeout_sec": self.report_timeout_sec}


class FailSwitch:
    """Test only: fail the next N requests, the way a busy server would.

    Set by `serve --fail-next` at start and by `berth-cp fail` while
    serving (through the database: store.set_fail_switch).  Each failure
    is answered with `status` (429, 500 or 503) and, unless retry_after
    is None, a Retry-After of that many seconds, written as delta-seconds
    or, with http_date, as the date that far from now.  `only` limits it
    to one endpoint (a name of ROUTES).  Every failure is logged on
    stderr with the time, so that a test can see when requests came.
    """

    DEFAULT = {"next": 0, "status": 503, "retry_after": 1,
               "http_date": False, "only": None}
    CODES = {429: "rate_limited", 500: "internal", 503: "unavailable"}

    def __init__(self, settings=None):
        self._lock = threading.Lock()
        self._state = dict(self.DEFAULT)
        if settings:
            self.set(settings)

    def set(self, settings):
        state = dict(self.DEFAULT)
        state.update(settings)
        if state["status"] not in self.CODES:
            raise ValueError("a failure status is 429, 500 or 503")
        with self._lock:
            self._state = state

    def take(self, route, clock):
        """The error to answer this request with, or None."""
        with self._lock:
            state = self._state
            if state["next"] <= 0 or (state["only"] and
                                      state["only"] != route):
                return None
            state["next"] -= 1
        retry_after = state["retry_after"]
        if retry_after is not None and state["http_date"]:
            retry_after = email.utils.formatdate(clock + retry_after,
                                                 usegmt=True)
        return ProtocolError(self.CODES[state["status"]], "failing on "
                             "request (test switch)",
                             retry_after=retry_after)


class ControlPlane(http.server.ThreadingHTTPServer):
    """The server object: one per `serve`, holding all mutable state."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, store, settings, ssl_context=None):
        host = address[0]
        self.address_family = (socket.AF_INET6 if ":" in host
                               else socket.AF_INET)
        super().__init__(address, Handler)
        self.store = store
        self.settings = settings
        self.ssl_context = ssl_context
        self.signing_key = ed25519.SigningKey(store.signing_seed())
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._generation = 0
        self._stopping = threading.Event()
        fail = dict(settings.fail or {})
        fail.setdefault("next", settings.fail_next)
        self.fail_switch = FailSwitch(fail)
        self._nonces = collections.OrderedDict()
        self._keys = {}
        self._wake = self._bind_wake_socket()
        self._watcher = threading.Thread(target=self._watch,
                                         name="berth-cp-watch", daemon=True)
        self._watcher.start()

    def _bind_wake_socket(self):
        """The datagram socket the CLI pokes, or None (then poll faster).

        A socket file left by a server that died is replaced; one server
        per database is assumed.
        """
        path = self.store.wake_path
        if len(path.encode()) >= 108:		# sun_path
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if os.path.exists(path) and stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
            sock.bind(path)
            # A poke can only cause an early look at the database, but
            # nobody else has any business sending one.
            os.chmod(path, 0o600)
        except OSError as e:
            print("berth-cp: wake socket %s: %s; polling instead"
                  % (path, e), file=sys.stderr, flush=True)
            sock.close()
            return None
        return sock

    def server_bind(self):
        """Bind without HTTPServer's getfqdn(), a DNS lookup at start-up
        that the server_name it sets is never worth."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def url(self):
        host, port = self.server_address[:2]
        if ":" in host:
            host = "[%s]" % host
        scheme = "https" if self.ssl_context else "http"
        return "%s://%s:%d" % (scheme, host, port)

    # -- TLS: the handshake runs in the connection's thread ----------------

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            # Not in the accept loop: a slow or hostile client would stall
            # every other connection while its handshake dragged on.
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        kind, value, _ = sys.exc_info()
        if issubclass(kind, (ssl.SSLError, ConnectionError, TimeoutError,
                             socket.timeout)):
            if self.settings.verbose:
                print("berth-cp: %s: %s" % (client_address[0], value),
                      file=sys.stderr, flush=True)
            return
        traceback.print_exc(file=sys.stderr)

    # -- change notification for long-polls --------------------------------

    def generation(self):
        with self._lock:
            return self._generation

    def notify_changed(self):
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait_for_change(self, generation, timeout):
        """Sleep until something changed since generation, or timeout."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._generation != generation or
                self._stopping.is_set(), timeout)

    def _watch(self):
        """See other processes' commits; sweep expired and lost tasks.

        Runs for the life of the server: a database error (a long lock by
        another writer) is logged and the loop goes on, since without it
        long-polls would only see this process's own writes.
        """
        conn = sqlite3.connect(self.store.path, timeout=10)
        interval = (WATCH_INTERVAL_SEC if self._wake
                    else WATCH_INTERVAL_FALLBACK_SEC)
        version = None
        next_sweep = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    now_version = conn.execute(
                        "PRAGMA data_version").fetchone()[0]
                    if version is None or now_version != version:
                        if version is not None:
                            self.notify_changed()
                        self._load_fail_switch(conn)
                    version = now_version
                    if time.monotonic() >= next_sweep:
                        next_sweep = time.monotonic() + SWEEP_INTERVAL_SEC
                        self.store.sweep(int(time.time()),
                                         self.settings.report_timeout_sec)
                except sqlite3.Error as e:
                    print("berth-cp: watcher: %s" % e, file=sys.stderr,
                          flush=True)
                    self.notify_changed()	# let long-polls look anyway
                if self._wake:
                    readable, _, _ = select.select([self._wake], [], [],
                                                   interval)
                    if readable:
                        self._wake.recv(64)
                else:
                    time.sleep(interval)
        finally:
            conn.close()

    def _load_fail_switch(self, conn):
        """Take a `berth-cp fail` the CLI left in the database."""
        with conn:
            row = conn.execute("SELECT value FROM meta WHERE key = "
                               "'fail_switch'").fetchone()
            if row is None:
                return
            conn.execute("DELETE FROM meta WHERE key = 'fail_switch'")
        try:
            self.fail_switch.set(json.loads(row[0]))
        except (ValueError, TypeError) as e:
            print("berth-cp: fail switch ignored: %s" % e, file=sys.stderr,
                  flush=True)

    def clock(self):
        """Our time as we tell it: Date, server_time, the skew check.

        Off by --clock-offset-sec in tests, to play a server whose clock
        is wrong; what is stored keeps the real time.
        """
        return time.time() + self.settings.clock_offset_sec

    def stop(self):
        """Wake every long-poll and stop serving (from any thread)."""
        self._stopping.set()
        self.notify_changed()
        threading.Thread(target=self.shutdown, daemon=True).start()

    @property
    def stopping(self):
        return self._stopping.is_set()

    def close(self):
        self._stopping.set()
        self.server_close()
        self._watcher.join(timeout=2)
        if self._wake is not None:
            self._wake.close()
            with contextlib.suppress(OSError):
                os.unlink(self.store.wake_path)

    # -- per-request helpers -----------------------------------------------

    def take_failure(self, route):
        """The error a test asked this request to fail with, or None."""
        return self.fail_switch.take(route, self.clock())

    def remember_nonce(self, key, nonce):
        """False when this (key, nonce) was seen within the skew window.

        An entry must outlive every time at which its signature could
        still pass the skew check, which is at most 2 * skew after it was
        first seen; older entries go from the front (insertion order).
        """
        now = time.monotonic()
        horizon = now - 2 * self.settings.clock_skew_sec - 1
        with self._lock:
            while self._nonces:
                oldest = next(iter(self._nonces.values()))
                if oldest >= horizon:
                    break
                self._nonces.popitem(last=False)
            if (key, nonce) in self._nonces:
                return False
            self._nonces[(key, nonce)] = now
            return True

    def public_key(self, encoded):
        """A cached PublicKey, so each node's comb table is built once."""
        with self._lock:
            key = self._keys.get(encoded)
        if key is None:
            key = ed25519.PublicKey(b64url_decode(encoded, size=32))
            with self._lock:
                if len(self._keys) > 10000:
                    self._keys.clear()
                self._keys[encoded] = key
        return key

    def task_for_node(self, row, node_id):
        """The task object a node receives, signed when it should be.

        Test switches (store.py) change what goes out: another node's id,
        a bit flipped in the signature, no signature.
        """
        task = {
            "id": row["id"],
            "kind": row["kind"],
            "app": row["app"],
            "node_id": row["sign_as_node"] or node_id,
            "seq": row["seq"],
            "created": row["created"],
            "not_after": row["not_after"],
            "spec": parse_json(row["spec"].encode("utf-8")),
        }
        if row["forge"] or (self.settings.sign_tasks and
                            not row["unsigned"]):
            try:
                message = task_signing_bytes(task)
            except WireError as e:
                # Only a database edited by hand gets here (task add
                # checks); sent unsigned, a careful node refuses it.
                print("berth-cp: task %s cannot be signed: %s"
                      % (row["id"], e), file=sys.stderr, flush=True)
                return task
            signature = bytearray(self.signing_key.sign(message))
            if row["forge"]:
                signature[0] ^= 1
            task["signature"] = b64url_encode(signature)
        return task

    def common_answer(self):
        return {"intervals": self.settings.intervals(),
                "server_time": int(self.clock()),
                "tasks_signed": self.settings.sign_tasks}


class Handler(http.server.BaseHTTPRequestHandler):
    """One connection; each request is one _dispatch()."""

    protocol_version = "HTTP/1.1"
    server_version = "berth-cp"
    sys_version = ""
    timeout = 90		# idle keep-alive connections go after this
    # Headers and body leave in one write (the library flushes after
    # each request), with Nagle off: written separately, the body waits
    # for the delayed ACK of the headers, 40 ms on Linux, twice the
    # whole dispatch-latency budget.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()

    def date_time_string(self, timestamp=None):
        """Date, from the server's (possibly pretend) clock."""
        if timestamp is None:
            timestamp = self.server.clock()
        return super().date_time_string(timestamp)

    def log_message(self, fmt, *args):
        if self.server.settings.verbose:
            sys.stderr.write("berth-cp: %s %s\n" % (self.address_string(),
                                                     fmt % args))
            sys.stderr.flush()

    def send_error(self, code, message=None, explain=None):
        """The HTTP library's own refusals, in the protocol's format."""
        self.close_connection = True
        self._allow = None
        error = ProtocolError(_LIBRARY_STATUS_CODES.get(code, "bad_request"),
                              message or "malformed request")
        if code in (414, 431):		# more precise than our 413
            error.status = code
        self._send_error(error)
        self.wfile.flush()	# the library returns without flushing here

    def do_GET(self):
        self._dispatch()

    # Every method goes through the router, which answers 405 with Allow.
    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- framing -----------------------------------------------------------

    def _dispatch(self):
        started = time.monotonic()
        self._status = None
        self._allow = None		# per request, not per connection
        try:
            body = self._read_body()
            name, groups = self._route()
            failure = self.server.take_failure(name)
            if failure is not None:
                print("berth-cp: test switch: %.3f %s %s -> %d%s" %
                      (time.time(), self.command, self.path.split("?")[0],
                       failure.status,
                       "" if failure.retry_after is None else
                       ", Retry-After: %s" % failure.retry_after),
                      file=sys.stderr, flush=True)
                raise failure
            getattr(self, "_do_" + name)(body, *groups)
        except ProtocolError as e:
            self._send_error(e)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            self._send_error(ProtocolError("internal", "internal error",
                                           retry_after=1))
        if self.server.settings.verbose:
            self.log_message("%s %s -> %s (%.1f ms)", self.command,
                             self.path, self._status,
                             (time.monotonic() - started) * 1000)

    def log_request(self, code="-", size="-"):
        pass		# _dispatch logs once, with the time taken

    def _read_body(self):
        """The request body, framed by Content-Length only."""
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            raise ProtocolError("length_required", "send Content-Length, "
                                "not Transfer-Encoding")
        values = self.headers.get_all("Content-Length") or []
        if len(values) > 1:
            self.close_connection = True
            raise ProtocolError("bad_request", "Content-Length repeated")
        if not values:
            if self.command == "POST":
                raise ProtocolError("length_required",
                                    "POST needs Content-Length")
            return b""
        if not re.fullmatch(r"[0-9]{1,10}", values[0].strip()):
            self.close_connection = True
            raise ProtocolError("bad_request", "bad Content-Length")
        length = int(values[0])
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            raise ProtocolError("too_large", "a request body is at most %d "
                                "bytes" % MAX_REQUEST_BYTES)
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise ProtocolError("bad_request", "body shorter than "
                                "Content-Length")
        return body

    def _route(self):
        path, _, self._query = self.path.partition("?")
        allowed = []
        for method, pattern, name in ROUTES:
            match = pattern.fullmatch(path)
            if match:
                if method == self.command:
                    if self._query and name != "poll":
                        raise ProtocolError("bad_request",
                                            "no query string here")
                    return name, match.groups()
                allowed.append(method)
        if allowed:
            self._allow = ", ".join(allowed)
            raise ProtocolError("method_not_allowed", "use %s"
                                % self._allow)
        raise ProtocolError("not_found", "no such endpoint")

    def _send_json(self, status, obj, headers=()):
        body = dump_json(obj)
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, error):
        headers = []
        if error.retry_after is not None:
            headers.append(("Retry-After", str(error.retry_after)))
        if error.code == "method_not_allowed" and self._allow:
            headers.append(("Allow", self._allow))
        self._send_json(error.status, error.body(), headers)

    # -- checks shared by the endpoints ------------------------------------

    def _json_body(self, body, body_schema):
        content_type = self.headers.get("Content-Type", "")
        media = content_type.split(";")[0].strip().lower()
        params = content_type.split(";")[1:]
        if media != "application/json" or any(
                p.strip().lower().replace('"', "") not in ("charset=utf-8",)
                for p in params):
            raise ProtocolError("unsupported_media_type",
                                "Content-Type must be application/json")
        try:
            value = parse_json(body)
        except WireError as e:
            raise ProtocolError("bad_json", str(e)) from None
        try:
            schema.check(body_schema, value)
        except schema.FieldError as e:
            raise ProtocolError("invalid_field", str(e),
                                field=e.field) from None
        return value

    def _verify_signature(self, encoded_key, body):
        """Check Berth-Signature against the node's key (PROTOCOL 3.2)."""
        values = self.headers.get_all("Berth-Signature") or []
        if len(values) != 1:
            raise ProtocolError("auth_required", "one Berth-Signature "
                                "header is needed")
        try:
            stamp, nonce, signature = parse_signature_header(values[0])
        except WireError as e:
            raise ProtocolError("auth_required", str(e)) from None
        now = int(self.server.clock())
        if abs(now - stamp) > self.server.settings.clock_skew_sec:
            raise ProtocolError("clock_skew", "request time %d is more than "
                                "%d s from server time %d" %
                                (stamp, self.server.settings.clock_skew_sec,
                                 now), server_time=now)
        key = self.server.public_key(encoded_key)
        message = request_signing_bytes(self.command, self.path, stamp,
                                        nonce, body)
        if not key.verify(message, signature):
            raise ProtocolError("signature_invalid",
                                "Berth-Signature does not verify")
        if not self.server.remember_nonce(key.data, nonce):
            raise ProtocolError("replayed", "this signature nonce was "
                                "already used")

    def _authenticate(self, node_id, body):
        """The node row for a request under /v1/nodes/{node_id}/."""
        values = self.headers.get_all("Authorization") or []
        match = (re.fullmatch(r"Bearer ([A-Za-z0-9_-]{1,255})", values[0])
                 if len(values) == 1 else None)
        if match is None:
            raise ProtocolError("auth_required", "Authorization: Bearer "
                                "<credential> is needed")
        store = self.server.store
        node = store.node_by_credential(match.group(1))
        if node is None:
            raise ProtocolError("credential_unknown",
                                "unknown node credential; enrol again")
        if node["id"] != node_id:
            raise ProtocolError("node_mismatch", "this credential belongs "
                                "to another node")
        self._verify_signature(node["public_key"], body)
        store.mark_seen(node, int(time.time()))
        return node

    # -- endpoints -----------------------------------------------------------

    def _do_enrol(self, body):
        request = self._json_body(body, schema.ENROL)
        try:
            key = self.server.public_key(request["public_key"])
        except (WireError, ed25519.BadKey) as e:
            raise ProtocolError("invalid_field", "public_key: %s" % e,
                                field="public_key") from None
        if key.has_small_order():
            raise ProtocolError("invalid_field", "public_key: a point of "
                                "small order", field="public_key")
        # Proof of possession: the enrolment is signed with the new key.
        self._verify_signature(request["public_key"], body)
        node_id, credential = self.server.store.enrol(
            request["token"], request["name"], request["public_key"],
            request["capabilities"], request["agent_version"],
            int(time.time()))
        answer = {"node_id": node_id, "credential": credential,
                  "task_signing_key": b64url_encode(
                      self.server.signing_key.public)}
        answer.update(self.server.common_answer())
        self._send_json(201, answer)

    def _do_heartbeat(self, body, node_id):
        self._authenticate(node_id, body)
        request = self._json_body(body, schema.HEARTBEAT)
        cancel = self.server.store.record_heartbeat(node_id, request,
                                                    int(time.time()))
        answer = {"cancel": cancel}
        answer.update(self.server.common_answer())
        self._send_json(200, answer)

    def _poll_query(self):
        """wait and after_seq from the query string, strictly."""
        params = {"wait": 0, "after_seq": 0}
        limits = {"wait": MAX_POLL_WAIT_SEC, "after_seq": MAX_SAFE_INTEGER}
        seen = set()
        for item in self._query.split("&") if self._query else []:
            name, eq, value = item.partition("=")
            if name not in params or name in seen or not eq:
                raise ProtocolError("invalid_field", "query: only wait=N and "
                                    "after_seq=N, once each", field=name)
            seen.add(name)
            if (not re.fullmatch(r"0|[1-9][0-9]{0,15}", value) or
                    int(value) > limits[name]):
                raise ProtocolError("invalid_field", "%s must be an integer "
                                    "from 0 to %d" % (name, limits[name]),
                                    field=name)
            params[name] = int(value)
        return params["wait"], params["after_seq"]

    def _do_poll(self, body, node_id):
        if body:
            raise ProtocolError("bad_request", "GET has no body")
        self._authenticate(node_id, body)
        wait, after_seq = self._poll_query()
        server = self.server
        deadline = time.monotonic() + wait
        while True:
            generation = server.generation()
            _, urgent = server.store.poll(node_id, after_seq,
                                          int(time.time()))
            remaining = deadline - time.monotonic()
            if urgent or remaining <= 0 or server.stopping:
                break
            server.wait_for_change(generation, remaining)
        rows, cancel = server.store.take_answer(node_id, int(time.time()))
        answer = {"tasks": [server.task_for_node(row, node_id)
                            for row in rows],
                  "cancel": cancel}
        answer.update(server.common_answer())
        self._send_json(200, answer)

    def _do_accept(self, body, node_id, task_id):
        self._authenticate(node_id, body)
        self._json_body(body, schema.EMPTY)
        self.server.store.accept(node_id, task_id, int(time.time()))
        self.server.notify_changed()	# other nodes' offers closed
        self._send_json(200, {"state": "accepted"})

    def _do_events(self, body, node_id, task_id):
        self._authenticate(node_id, body)
        request = self._json_body(body, schema.EVENTS)
        acked, repeated = self.server.store.add_events(
            node_id, task_id, request["events"], int(time.time()))
        if repeated:
            # Harmless (the node resends what it has no answer for), but
            # worth knowing when a test counts deliveries.
            print("berth-cp: events of %s from %s: seq %s again" %
                  (task_id, node_id, ",".join(map(str, repeated))),
                  file=sys.stderr, flush=True)
        self._send_json(200, {"acked_seq": acked})

    def _do_logs(self, body, node_id, task_id):
        self._authenticate(node_id, body)
        chunk = self._json_body(body, schema.LOG_CHUNK)
        try:
            data = b64url_decode(chunk["data"],
                                 max_size=MAX_LOG_CHUNK_BYTES)
        except WireError as e:
            raise ProtocolError("invalid_field", "data: %s" % e,
                                field="data") from None
        acked = self.server.store.add_log(node_id, task_id, chunk, data,
                                          int(time.time()))
        self._send_json(200, {"acked_offset": acked})


def parse_listen(text):
    """(host, port) from "HOST:PORT" or "[V6]:PORT"."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})|"
                         r"([^:\[\]]+):([0-9]{1,5})", text)
    if not match:
        raise ValueError("--listen wants HOST:PORT or [ADDR]:PORT")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError("port beyond 65535")
    return host, port


def tls_context(cert_file, key_file):
    """A server context: TLS 1.2 or later, the given certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def open_server(db_path, listen, settings, cert_file=None, key_file=None):
    """Open the database and bind; the caller runs serve_forever()."""
    context = tls_context(cert_file, key_file) if cert_file else None
    store = Store(db_path)
    try:
        return ControlPlane(parse_listen(listen), store, settings, context)
    except BaseException:
        store.close()
        raise
