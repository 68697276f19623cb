"""Field-by-field checks of every JSON body in PROTOCOL.md.

A schema is a tree of small checker objects; check() walks a value
against it and raises FieldError naming the first bad field by its dotted
path ("metrics.cpu_percent", "spec.ports[2].host_port").  Unknown object
members are errors, as the protocol says: the node never sends a field
that is not listed, so an unknown one is a bug worth a clear 400, and a
task with a member the node does not know must be refused by the node.

The same schemas serve the server (checking requests), the CLI (checking
the tasks it builds) and the tests (checking the server's answers).
"""

import re

from wire import MAX_SAFE_INTEGER


class FieldError(ValueError):
    """A value that breaks its schema.  field is a dotted path."""

    def __init__(self, field, message):
        super().__init__("%s: %s" % (field or "body", message))
        self.field = field or "body"
        self.reason = message


def _join(path, name):
    return "%s.%s" % (path, name) if path else name


class Int:
    def __init__(self, lo=0, hi=MAX_SAFE_INTEGER):
        self.lo, self.hi = lo, hi

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(path, "must be an integer")
        if not self.lo <= value <= self.hi:
            raise FieldError(path, "must be from %d to %d"
                             % (self.lo, self.hi))


class Num:
    """An integer or a finite float (metrics only; never in tasks)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(path, "must be a number")
        if not self.lo <= value <= self.hi:
            raise FieldError(path, "must be from %g to %g"
                             % (self.lo, self.hi))


class Bool:
    def check(self, value, path):
        if not isinstance(value, bool):
            raise FieldError(path, "must be true or false")


class Str:
    """A string of at most max_len UTF-8 bytes, optionally a pattern.

    Control characters are refused; with allow_control, tab, LF and CR
    are let through: names, ids and paths have no business holding any,
    free text (env values, arguments, messages) may hold those three.
    Other controls could not go into a signed task (wire.py).
    """

    def __init__(self, max_len=255, pattern=None, min_len=0,
                 allow_control=False, what=None):
        self.max_len, self.min_len = max_len, min_len
        self.pattern = re.compile(pattern) if pattern else None
        self.allow_control = allow_control
        self.what = what

    def check(self, value, path):
        if not isinstance(value, str):
            raise FieldError(path, "must be a string")
        size = len(value.encode("utf-8"))
        if size < self.min_len:
            raise FieldError(path, "must not be empty" if self.min_len == 1
                             else "must be at least %d bytes" % self.min_len)
        if size > self.max_len:
            raise FieldError(path, "must be at most %d bytes" % self.max_len)
        controls = (r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
                    if self.allow_control else r"[\x00-\x1f\x7f]")
        if re.search(controls, value):
            raise FieldError(path, "must not hold control characters"
                             + (" other than tab, LF and CR"
                                if self.allow_control else ""))
        if self.pattern and not self.pattern.fullmatch(value):
            raise FieldError(path, "must be %s" % (self.what or
                                                   self.pattern.pattern))


class Enum:
    def __init__(self, *values):
        self.values = values

    def check(self, value, path):
        if not isinstance(value, str) or value not in self.values:
            raise FieldError(path, "must be one of %s"
                             % ", ".join(self.values))


class List:
    def __init__(self, item, max_items, min_items=0, unique=False):
        self.item, self.max_items, self.min_items = item, max_items, min_items
        self.unique = unique

    def check(self, value, path):
        if not isinstance(value, list):
            raise FieldError(path, "must be an array")
        if len(value) < self.min_items:
            raise FieldError(path, "must hold at least %d item(s)"
                             % self.min_items)
        if len(value) > self.max_items:
            raise FieldError(path, "must hold at most %d items"
                             % self.max_items)
        for i, item in enumerate(value):
            self.item.check(item, "%s[%d]" % (path, i))
        if self.unique and len(set(map(repr, value))) != len(value):
            raise FieldError(path, "must not repeat an item")


class Obj:
    """An object with required and optional members, nothing else.

    one_of lists groups of which exactly one member must be present;
    rule is an extra cross-field check run after the members pass.
    """

    def __init__(self, required=None, optional=None, one_of=(), rule=None):
        self.required = required or {}
        self.optional = optional or {}
        self.one_of = one_of
        self.rule = rule

    def check(self, value, path):
        if not isinstance(value, dict):
            raise FieldError(path, "must be an object")
        for name in value:
            if name not in self.required and name not in self.optional:
                raise FieldError(_join(path, name), "unknown field")
        for name, checker in self.required.items():
            if name not in value:
                raise FieldError(_join(path, name), "missing")
            checker.check(value[name], _join(path, name))
        for name, checker in self.optional.items():
            if name in value:
                checker.check(value[name], _join(path, name))
        for group in self.one_of:
            present = [name for name in group if name in value]
            if len(present) != 1:
                raise FieldError(_join(path, group[0]),
                                 "exactly one of %s is needed"
                                 % ", ".join(group))
        if self.rule:
            self.rule(value, path)


def check(schema, value, path=""):
    """Raise FieldError unless value fits schema."""
    schema.check(value, path)


# -- identifiers -----------------------------------------------------------

ID = Str(64, r"[A-Za-z0-9_-]{1,64}", min_len=1,
         what="1-64 of A-Z a-z 0-9 _ -")
APP = Str(63, r"[a-z0-9][a-z0-9_.-]{0,62}", min_len=1,
          what="1-63 of a-z 0-9 _ . -, starting with a letter or digit")
HEX64 = Str(64, r"[0-9a-f]{64}", what="64 lowercase hex digits")
B64URL_KEY = Str(43, r"[A-Za-z0-9_-]{43}",
                 what="43 base64url characters (32 bytes)")
B64URL_SIG = Str(86, r"[A-Za-z0-9_-]{86}",
                 what="86 base64url characters (64 bytes)")
BYTES = Int(0, MAX_SAFE_INTEGER)
UNIX = Int(0, 2 ** 40)
PRINTABLE = Str(127)
TEXT = Str(4096, allow_control=True)


# -- enrolment and heartbeat -----------------------------------------------

GPU = Obj({"name": Str(255), "memory_bytes": BYTES, "uuid": Str(128)})

CAPABILITIES = Obj({
    "os": Str(64, min_len=1),
    "kernel": Str(255),
    "arch": Str(32, min_len=1),
    "cpu_count": Int(1, 65536),
    "memory_bytes": BYTES,
    "disk_bytes": BYTES,
    "docker_version": Str(64),
    "gpus": List(GPU, 64),
})

ENROL = Obj({
    "token": Str(255, r"[A-Za-z0-9_-]{1,255}", min_len=1,
                 what="a token as issued"),
    "name": PRINTABLE,
    "public_key": B64URL_KEY,
    "capabilities": CAPABILITIES,
    "agent_version": Str(64, min_len=1),
})

CAPACITY = Obj({
    "containers_left": Int(0, 1 << 31),
    "cpu_percent_left": Num(0, 100),
    "memory_bytes_left": BYTES,
})

METRICS = Obj({
    "cpu_percent": Num(0, 100),
    "memory_used_bytes": BYTES,
    "memory_total_bytes": BYTES,
    "disk_free_bytes": BYTES,
    "disk_total_bytes": BYTES,
    "load1": Num(0, 1e6),
    "load5": Num(0, 1e6),
    "load15": Num(0, 1e6),
    "containers_running": Int(0, 1 << 31),
    "containers_total": Int(0, 1 << 31),
    "capacity": CAPACITY,
})

AUDIT_HEAD = Obj({"records": BYTES, "sha256": HEX64})

HEARTBEAT = Obj({
    "time": UNIX,
    "agent_version": Str(64, min_len=1),
    "metrics": METRICS,
    "capabilities": CAPABILITIES,
    "binary_sha256": HEX64,
    "policy_hash": HEX64,
    "audit_head": AUDIT_HEAD,
    "tasks_running": List(ID, 1024, unique=True),
})

EMPTY = Obj()


# -- events and logs -------------------------------------------------------

TERMINAL_STATES = ("succeeded", "failed", "cancelled", "rejected")
EVENT_STATES = ("running",) + TERMINAL_STATES
STAGES = ("verify", "admission", "clone", "detect", "build", "pull",
          "create", "start", "health", "switch", "stop", "remove",
          "scale", "run", "logs", "cleanup")

EVENT = Obj({
    "seq": Int(1, 2 ** 31 - 1),
    "time": UNIX,
    "state": Enum(*EVENT_STATES),
}, {
    "stage": Enum(*STAGES),
    "message": TEXT,
    "exit_code": Int(-(2 ** 31), 2 ** 31 - 1),
})

EVENTS = Obj({"events": List(EVENT, 100, min_items=1)})

LOG_CHUNK = Obj({
    "seq": Int(1, 2 ** 31 - 1),
    "offset": Int(0, MAX_SAFE_INTEGER),
    "stream": Enum("stdout", "stderr", "build"),
    # 64 KiB of data is 87382 base64url characters.
    "data": Str(87382, r"[A-Za-z0-9_-]+", min_len=1, what="base64url"),
})


# -- tasks -----------------------------------------------------------------

KINDS = ("deploy", "start", "stop", "restart", "remove", "scale", "run",
         "logs")

ARGV = List(Str(4096, min_len=0, allow_control=True), 256, min_items=1)

ENV = List(Obj({
    "name": Str(128, r"[A-Za-z_][A-Za-z0-9_]{0,127}", min_len=1,
                what="a variable name ([A-Za-z_][A-Za-z0-9_]*)"),
    "value": Str(32768, allow_control=True),
}, {"secret": Bool()}), 256)


def _unique_env(value, path):
    names = [item["name"] for item in value.get("env", [])]
    if len(set(names)) != len(names):
        raise FieldError(_join(path, "env"), "a variable is set twice")


PORT = Obj({
    "container_port": Int(1, 65535),
    "host_port": Int(0, 65535),
}, {
    "protocol": Enum("tcp", "udp"),
    "host_ip": Str(45, r"[0-9a-fA-F.:]{2,45}", what="an IP address literal"),
})

REPO = Obj({
    "url": Str(1024, r"(https|http|git|ssh)://[^\s]+", min_len=1,
               what="an https, http, git or ssh URL"),
}, {
    "commit": Str(40, r"[0-9a-f]{40}", what="40 lowercase hex digits"),
    "ref": Str(255, r"[A-Za-z0-9._/-]{1,255}", min_len=1,
               what="a git ref name"),
}, one_of=(("commit", "ref"),))


def _health_rule(value, path):
    kind = value["type"]
    if kind == "http" and ("path" not in value or "port" not in value):
        raise FieldError(path, "an http health check needs path and port")
    if kind == "tcp" and "port" not in value:
        raise FieldError(path, "a tcp health check needs port")
    if kind == "cmd" and "cmd" not in value:
        raise FieldError(path, "a cmd health check needs cmd")
    if kind != "http" and "path" in value:
        raise FieldError(_join(path, "path"), "only for type http")
    if kind != "cmd" and "cmd" in value:
        raise FieldError(_join(path, "cmd"), "only for type cmd")


HEALTH = Obj({"type": Enum("http", "tcp", "cmd")}, {
    "path": Str(1024, r"/[^\s]*", what="an absolute URL path"),
    "port": Int(1, 65535),
    "cmd": ARGV,
    "interval_sec": Int(1, 3600),
    "timeout_sec": Int(1, 3600),
    "retries": Int(0, 100),
    "start_period_sec": Int(0, 3600),
}, rule=_health_rule)

LIMITS = {
    "memory_bytes": Int(4 << 20, 1 << 50),
    "cpu_millis": Int(1, 1024000),
    "pids": Int(1, 1 << 22),
}

IMAGE = Str(512, r"[A-Za-z0-9][A-Za-z0-9._/:@-]*", min_len=1,
            what="an image reference")


def _deploy_rule(value, path):
    _unique_env(value, path)
    if "dockerfile" in value and "repo" not in value:
        raise FieldError(_join(path, "dockerfile"), "only with repo")


SPECS = {
    "deploy": Obj({}, dict({
        "image": IMAGE,
        "repo": REPO,
        "dockerfile": Str(255, r"(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/-]+",
                          what="a relative path without .."),
        "env": ENV,
        "ports": List(PORT, 64),
        "replicas": Int(1, 100),
        "health": HEALTH,
        "cmd": ARGV,
        "timeout_sec": Int(1, 86400),
    }, **LIMITS), one_of=(("image", "repo"),), rule=_deploy_rule),
    "start": Obj(),
    "stop": Obj({}, {"grace_sec": Int(0, 3600)}),
    "restart": Obj({}, {"grace_sec": Int(0, 3600)}),
    "remove": Obj(),
    "scale": Obj({"replicas": Int(0, 100)}),
    "run": Obj({"image": IMAGE, "cmd": ARGV}, dict({
        "env": ENV,
        "timeout_sec": Int(1, 86400),
        "workdir": Str(255, r"/[^\x00]*", what="an absolute path"),
    }, **LIMITS), rule=_unique_env),
    "logs": Obj({}, {
        "follow": Bool(),
        "since": UNIX,
        "tail": Int(0, 100000),
        "timeout_sec": Int(1, 86400),
    }),
}


class AnyObject:
    """Any object; used where the members are checked by a rule."""

    def check(self, value, path):
        if not isinstance(value, dict):
            raise FieldError(path, "must be an object")


def _task_rule(value, path):
    """A task's spec has one schema per kind."""
    SPECS[value["kind"]].check(value["spec"], _join(path, "spec"))


TASK = Obj({
    "id": ID,
    "kind": Enum(*KINDS),
    "app": APP,
    "node_id": ID,
    "seq": Int(1, MAX_SAFE_INTEGER),
    "created": UNIX,
    "not_after": UNIX,
    "spec": AnyObject(),
}, {"signature": B64URL_SIG}, rule=_task_rule)
