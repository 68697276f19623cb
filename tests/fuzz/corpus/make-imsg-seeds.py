#!/usr/bin/env python3
# make-imsg-seeds.py: write the seed corpora for fuzz_imsg and fuzz_wire.
# The seeds are a few valid messages and a few typical mistakes, so the
# fuzzer starts from inputs that get past the first checks.  The layouts
# below mirror struct imsg_hdr (common/imsg.h) and the wire structs
# (common/berth.h) on a little-endian host; rerun after changing either.
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

IMSG_FLAG_FD = 0x0001
IMSG_PROC_CONF, IMSG_PROC_READY, IMSG_PROC_STATUS_REQ = 1, 2, 3
IMSG_CTL_PROC, IMSG_CTL_ERROR = 6, 8
ROLE_PARENT, ROLE_NETD, ROLE_RUNNER = 0, 1, 3
BERTH_IMSG_MAX = 16384


def hdr(type_, length, flags=0, reserved=0, peerid=1, pid=100):
    return struct.pack("<IIHHII", type_, length, flags, reserved, peerid,
                       pid)


def msg(type_, payload=b"", **kw):
    return hdr(type_, len(payload), **kw) + payload


def cstr(s, size):
    b = s.encode()
    return b + b"\0" * (size - len(b))


def proc_conf():
    return (struct.pack("<III", ROLE_NETD, 2, 1) + cstr("_berth", 32) +
            cstr("/var/run/docker.sock", 256) +
            cstr("/var/lib/berth-build", 256))


def proc_ready():
    return struct.pack("<IiIIII", ROLE_RUNNER, 4, 1, 1, 1, 1)


def ctl_proc():
    return (struct.pack("<IIIIIIiIQQ", ROLE_PARENT, 1234, 0, 0, 2, 1, 3, 0,
                        0x3fffffffff, 86400) + cstr("root", 32))


def ctl_error():
    return cstr("no such app", 256)


def ctl_task(task_id, kind, app, state, ev_state, ev_stage, message,
             event_seq, spooled):
    strings = (cstr(task_id, 65) + cstr(kind, 16) + cstr(app, 64) +
               cstr(state, 16) + cstr(ev_state, 16) + cstr(ev_stage, 16) +
               cstr(message, 256))
    when = 1700000000 if ev_state else 0
    return (strings + b"\0" * (456 - len(strings)) +
            struct.pack("<qqqqqII", 42, 1700003600, 1700000000, 1700000002,
                        when, event_seq, spooled))


def ctl_policy():
    # struct policy (common/policy.h) with its defaults, then the hash.
    p = (b"\0" * (32 * 256) + struct.pack("<I", 0) +
         cstr("paas-app-{app}", 64) + b"\0" * 4 +
         struct.pack("<QQQQqq", 256 << 20, 2 << 30, 10**9, 4 * 10**9,
                     256, 4096) +
         cstr("127.0.0.1", 46) + b"\0" * (7 * 46) + struct.pack("<I", 1) +
         struct.pack("<HH", 1024, 65535) + b"\0" * (16 * 256) +
         struct.pack("<I", 0) + b"\0" * (16 * 32) +
         struct.pack("<II", 0, 0) + cstr("", 64) + struct.pack("<I", 0))
    hexhash = hashlib.sha256(b"policy").hexdigest()
    return p + cstr(hexhash, 65) + b"\0" * 7


def task_body(secret_value):
    env = {"name": "KEY", "secret": True}
    if secret_value:
        env["value"] = "s3cret"
    return json.dumps({"id": "t_0123456789abcdef", "kind": "deploy",
                       "app": "web", "seq": 42,
                       "spec": {"image": "berth-base:latest",
                                "env": [{"name": "A", "value": "b"}, env]}},
                      separators=(",", ":")).encode()


# fuzz_imsg: byte 0 sets the write chunk (0: one byte at a time).
IMSG_SEEDS = {
    "empty": b"\x00" + msg(IMSG_PROC_STATUS_REQ),
    "proc-conf": b"\x01" + msg(IMSG_PROC_CONF, proc_conf()),
    "two-messages": b"\x03" + msg(IMSG_PROC_READY, proc_ready()) +
                    msg(IMSG_CTL_ERROR, ctl_error()),
    "largest": b"\xff" + msg(IMSG_CTL_ERROR,
                             b"x" * (BERTH_IMSG_MAX - 20)),
    "oversize-header": b"\x01" + hdr(IMSG_CTL_ERROR, BERTH_IMSG_MAX),
    "reserved-set": b"\x01" + msg(IMSG_PROC_STATUS_REQ, reserved=1),
    "fd-flag": b"\x01" + msg(IMSG_PROC_STATUS_REQ, flags=IMSG_FLAG_FD),
    "truncated": b"\x00" + msg(IMSG_PROC_READY, proc_ready())[:30],
}

# fuzz_wire: byte 0 picks the decoder (0 empty, 1 proc_conf, 2 proc_ready,
# 3 ctl_proc, 4 ctl_error, 5 ctl_progress, 6 ctl_tasks_req, 7 ctl_task_req,
# 8 ctl_task, 9 ctl_tasks_end, 10 ctl_task_body, 11 ctl_policy), the rest
# is the payload.
WIRE_SEEDS = {
    "empty": b"\x00",
    "proc-conf": b"\x01" + proc_conf(),
    "proc-ready": b"\x02" + proc_ready(),
    "ctl-proc": b"\x03" + ctl_proc(),
    "ctl-error": b"\x04" + ctl_error(),
    "proc-conf-short": b"\x01" + proc_conf()[:-1],
    "ctl-progress": b"\x05" + b"clone".ljust(16, b"\0") +
                    b"ok 0123456789abcdef".ljust(1024, b"\0"),
    "ctl-tasks-req": b"\x06" + struct.pack("<I", 1),
    "ctl-task-req": b"\x07" + cstr("t_0123456789abcdef", 65),
    "ctl-task": b"\x08" + ctl_task("t_0123456789abcdef", "deploy", "web",
                                   "finished", "succeeded", "", "", 2, 0),
    "ctl-task-refused": b"\x08" + ctl_task("t_0123456789abcdef", "start",
                                           "web", "refused", "rejected",
                                           "verify", "bad signature", 1, 1),
    "ctl-task-spooled-over": b"\x08" + ctl_task("t_1", "stop", "web",
                                                "running", "running",
                                                "stop", "", 1, 2),
    "ctl-tasks-end": b"\x09" + struct.pack("<III", 1, 2, 7),
    "ctl-task-body": b"\x0a" + task_body(False),
    "ctl-task-body-secret": b"\x0a" + task_body(True),
    "ctl-policy": b"\x0b" + ctl_policy(),
}


def write(corpus, seeds):
    d = os.path.join(HERE, corpus)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("fuzz_imsg", IMSG_SEEDS)
write("fuzz_wire", WIRE_SEEDS)
