#!/usr/bin/env python3
"""lormas_server.py: a mock Lormas control plane (CONTRACTS.md section 4).

One process, two listeners on 127.0.0.1:

  the node endpoint   ws://127.0.0.1:PORT/api/ws/nodes?token=T
  the test interface  http://127.0.0.1:ADMIN/_mock/...

It checks what the real server checks, and what berth promises on top:

  * 4.2: no `token` query parameter -> close 1008 "Missing token"; a token
    that is no node's -> close 1008 "Invalid NODE_TOKEN".  Any length is
    a node token here (the real server's "> 100 characters" rule is the
    contract's MISMATCH that berth must not depend on), compared byte for
    byte.  An Authorization header other than "Bearer <the same token>"
    is recorded as a validation error.
  * 4.3: agent_identify {nodeName: str, version: str} -> agent_identified;
    heartbeat {nodeId: str, resources: {cpu: number, memory: str},
    timestamp: ISO 8601 str}; a nodeId that is a piece of the token is an
    error (the original leaked 8 characters); ping -> pong.
  * 4.4: commands {type: command, id, action, containerId, ...} wait 30 s
    for a command_result whose commandId matches, as sendToNode does.

Test interface (JSON bodies and answers):

  POST /_mock/nodes        {"name": N, "token": T}   register a node
  GET  /_mock/messages     every message from every node: [{node, time,
                           message}] (raw text where it was not JSON)
  GET  /_mock/errors       the validation errors seen so far
  GET  /_mock/connections  {node: number of connections opened}
  POST /_mock/command      {"node": N, "command": {...}} -> the result,
                           or 504 {"error": "timeout"} after 30 s
  POST /_mock/drop         {"node": N}: close the TCP connection, no frame
  POST /_mock/raw          {"node": N, "hex": H}: write these bytes as they
                           are (a malformed frame)
  POST /_mock/big          {"node": N, "size": S}: one text frame of S bytes

Usage: lormas_server.py; prints {"ws": PORT, "admin": PORT} on one line
and serves until standard input closes.
"""
import base64
import hashlib
import json
import os
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
COMMAND_TIMEOUT = 30.0
ISO8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")

lock = threading.Lock()
nodes = {}          # token -> name
sessions = {}       # name -> Session
messages = []
errors = []
connections = {}
pending = {}        # command id -> [event, result]


def error(node, what):
    with lock:
        errors.append({"node": node, "time": time.time(), "error": what})
    sys.stderr.write("lormas_server: %s: %s\n" % (node, what))


class Closed(Exception):
    pass


class Session:
    def __init__(self, sock, name):
        self.sock = sock
        self.name = name
        self.wlock = threading.Lock()

    def send_frame(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        with self.wlock:
            self.sock.sendall(head + payload)

    def send_json(self, obj):
        self.send_frame(TEXT, json.dumps(obj).encode())

    def close(self, code, reason):
        try:
            self.send_frame(CLOSE, struct.pack(">H", code) + reason.encode())
        except OSError:
            pass


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise Closed()
        data += chunk
    return data


def read_frame(sock):
    """One frame from the client: (fin, opcode, payload); it must be masked."""
    b0, b1 = read_exact(sock, 2)
    if b0 & 0x70:
        raise ValueError("reserved bits set")
    if not b1 & 0x80:
        raise ValueError("client frame not masked")
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", read_exact(sock, 8))[0]
    if n > 16 * 1024 * 1024:
        raise ValueError("frame too large")
    key = read_exact(sock, 4)
    data = read_exact(sock, n)
    data = bytes(c ^ key[i % 4] for i, c in enumerate(data))
    return bool(b0 & 0x80), b0 & 0x0F, data


def check_heartbeat(name, token, msg):
    res = msg.get("resources")
    if not isinstance(msg.get("nodeId"), str):
        error(name, "heartbeat: nodeId is not a string")
    elif msg["nodeId"] and msg["nodeId"] in token:
        error(name, "heartbeat: nodeId is a piece of the token")
    if not isinstance(res, dict):
        error(name, "heartbeat: resources is not an object")
    else:
        cpu = res.get("cpu")
        if not isinstance(cpu, (int, float)) or isinstance(cpu, bool):
            error(name, "heartbeat: resources.cpu is not a number")
        if not isinstance(res.get("memory"), str):
            error(name, "heartbeat: resources.memory is not a string")
    if not isinstance(msg.get("timestamp"), str) or \
            not ISO8601.match(msg["timestamp"]):
        error(name, "heartbeat: timestamp is not ISO 8601")


def on_message(session, token, msg):
    name = session.name
    kind = msg.get("type")
    if kind == "agent_identify":
        if not isinstance(msg.get("nodeName"), str) or \
                not isinstance(msg.get("version"), str):
            error(name, "agent_identify: nodeName and version must be strings")
        session.send_json({"type": "agent_identified", "status": "success"})
    elif kind == "heartbeat":
        check_heartbeat(name, token, msg)
    elif kind == "ping":
        session.send_json({"type": "pong"})
    elif kind in ("command_result", "stdin_result"):
        if msg.get("status") not in ("success", "error"):
            error(name, "%s: status is neither success nor error" % kind)
        with lock:
            waiter = pending.get(msg.get("commandId"))
        if waiter is None:
            error(name, "%s for no pending command" % kind)
        else:
            waiter[1] = msg
            waiter[0].set()
    elif kind != "pong":
        error(name, "unknown message type %r" % kind)


def handshake(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk or len(head) > 65536:
            raise Closed()
        head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    accept = base64.b64encode(hashlib.sha1(
        headers.get("sec-websocket-key", "").encode() + GUID).digest())
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                 b"\r\n\r\n")
    return target, headers


class NodeHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        try:
            target, headers = handshake(sock)
        except (Closed, OSError, IndexError):
            return
        url = urlsplit(target)
        tokens = parse_qs(url.query, keep_blank_values=True).get("token")
        probe = Session(sock, "?")
        if url.path != "/api/ws/nodes":
            return probe.close(1008, "Unknown path")
        if not tokens or not tokens[0]:
            return probe.close(1008, "Missing token")
        token = tokens[0]
        with lock:
            name = nodes.get(token)
        if name is None:
            return probe.close(1008, "Invalid NODE_TOKEN")
        if headers.get("authorization") != "Bearer " + token:
            error(name, "Authorization is not 'Bearer <the query token>'")
        session = Session(sock, name)
        with lock:
            sessions[name] = session
            connections[name] = connections.get(name, 0) + 1
        self.serve(session, token)

    def serve(self, session, token):
        parts = b""
        try:
            while True:
                fin, opcode, data = read_frame(session.sock)
                if opcode == CLOSE:
                    session.close(1000, "")
                    return
                if opcode == PING:
                    session.send_frame(PONG, data)
                    continue
                if opcode in (TEXT, 0x0):
                    parts += data
                    if not fin:
                        continue
                    text, parts = parts.decode("utf-8", "replace"), b""
                    try:
                        msg = json.loads(text)
                    except ValueError:
                        msg = None
                    with lock:
                        messages.append({"node": session.name,
                                         "time": time.time(),
                                         "message": msg if msg is not None
                                         else text})
                    if isinstance(msg, dict):
                        on_message(session, token, msg)
                    else:
                        error(session.name, "a frame that is not a JSON object")
        except (Closed, OSError):
            pass
        except ValueError as e:
            error(session.name, str(e))
            session.close(1002, str(e))
        finally:
            with lock:
                if sessions.get(session.name) is session:
                    del sessions[session.name]


class NodeServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def send_command(node, command):
    with lock:
        session = sessions.get(node)
    if session is None:
        return 409, {"error": "node %s is not connected" % node}
    command = dict(command)
    command["type"] = "command"
    command.setdefault("id", str(uuid.uuid4()))
    waiter = [threading.Event(), None]
    with lock:
        pending[command["id"]] = waiter
    try:
        session.send_json(command)
        if not waiter[0].wait(COMMAND_TIMEOUT):
            return 504, {"error": "timeout"}
        return 200, waiter[1]
    finally:
        with lock:
            pending.pop(command["id"], None)


class AdminHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            table = {"/_mock/messages": messages, "/_mock/errors": errors,
                     "/_mock/connections": connections}
            if self.path in table:
                return self.reply(200, table[self.path])
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/_mock/nodes":
            with lock:
                nodes[body["token"]] = body["name"]
            return self.reply(200, {"ok": True})
        if self.path == "/_mock/command":
            return self.reply(*send_command(body["node"], body["command"]))
        with lock:
            session = sessions.get(body.get("node"))
        if session is None:
            return self.reply(409, {"error": "not connected"})
        if self.path == "/_mock/drop":
            session.sock.shutdown(socket.SHUT_RDWR)
        elif self.path == "/_mock/raw":
            with session.wlock:
                session.sock.sendall(bytes.fromhex(body["hex"]))
        elif self.path == "/_mock/big":
            session.send_frame(TEXT, b"x" * int(body["size"]))
        else:
            return self.reply(404, {"error": "not found"})
        self.reply(200, {"ok": True})


def main():
    ws = NodeServer(("127.0.0.1", 0), NodeHandler)
    admin = ThreadingHTTPServer(("127.0.0.1", 0), AdminHandler)
    admin.daemon_threads = True
    for server in (ws, admin):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"ws": ws.server_address[1],
                      "admin": admin.server_address[1]}), flush=True)
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
