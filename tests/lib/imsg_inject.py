#!/usr/bin/env python3
"""imsg_inject.py: play a compromised berth child on its real channel.

  imsg_inject.py PID TYPE [--payload-hex HEX | --payload-file F]
                 [--len N] [--peerid N]

TYPE is a number or a name of enum imsg_type ("TASK_OFFER"), whose value
is read from common/berth.h under $BERTH_SRC, so the test follows the
enum as it grows.

Takes a copy of descriptor 3 of process PID (a berthd child: its channel
to the parent) with pidfd_getfd(2), which needs the rights to ptrace it
(root), and writes one imsg: the 20-byte header of common/imsg.h (type,
len, flags, reserved, peerid, pid), then the payload.  --len puts
another length in the header than the payload has (a lie the parent must
catch).  The test stops the child (SIGSTOP) first so that nothing of its
own comes between.  No production code knows about this: the parent
sees exactly what a child taken over by an attacker could send.
"""
import argparse
import ctypes
import os
import re
import struct
import sys

SYS_PIDFD_GETFD = 438      # x86_64, aarch64 and most others share it
BERTH_PARENT_FD = 3


def channel_of(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, BERTH_PARENT_FD, 0)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, "pidfd_getfd: " + os.strerror(err))
        return fd
    finally:
        os.close(pidfd)


def imsg_type(name):
    if name.isdigit():
        return int(name)
    path = os.path.join(os.environ["BERTH_SRC"], "common", "berth.h")
    with open(path) as f:
        src = f.read()
    body = src[src.index("enum imsg_type {"):src.index("IMSG_TYPE_MAX")]
    names = re.findall(r"^\s*(IMSG_[A-Z0-9_]+)", body, re.M)
    return names.index("IMSG_" + name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pid", type=int)
    ap.add_argument("type")
    ap.add_argument("--payload-hex", default="")
    ap.add_argument("--payload-file")
    ap.add_argument("--len", type=int)
    ap.add_argument("--peerid", type=int, default=0)
    args = ap.parse_args()
    if args.payload_file:
        with open(args.payload_file, "rb") as f:
            payload = f.read()
    else:
        payload = bytes.fromhex(args.payload_hex)
    length = len(payload) if args.len is None else args.len
    header = struct.pack("<IIHHII", imsg_type(args.type), length, 0, 0, args.peerid,
                         args.pid)
    fd = channel_of(args.pid)
    try:
        os.write(fd, header + payload)
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
