#!/usr/bin/env python3
"""ws_server.py: a WebSocket server for test_ws.c, standard library only.

    python3 ws_server.py DIR

listens on two random ports of 127.0.0.1, plain and TLS (DIR/server.pem
and DIR/server.key), prints {"ws": port, "wss": port} as one line and
serves until its standard input closes.  The request path chooses what
the server does, so that each test can meet one kind of server:

    /echo       a well-behaved server; text messages are also commands
                (see Session.command) that make it misbehave on demand
    /badaccept  answers 101 with a Sec-WebSocket-Accept for another key
    /hangup     sends half a response head and hangs up
    /deny       answers 403
    /slow       reads the request and answers nothing
"""

import base64
import hashlib
import json
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# What the last connection's client said in its close frame, for the
# "last-close" command: tests check what went on the wire.
last_close = {'code': None}
lock = threading.Lock()


class Hangup(Exception):
    pass


def accept_for(key):
    digest = hashlib.sha1(key.encode('ascii') + GUID).digest()
    return base64.b64encode(digest).decode('ascii')


def unmask(data, key):
    stream = (key * (len(data) // 4 + 1))[:len(data)]
    n = int.from_bytes(data, 'big') ^ int.from_bytes(stream, 'big')
    return n.to_bytes(len(data), 'big')


class Session:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.pings_seen = 0
        self.mute = False
        self.head = {}
        self.target = ''
        self.pong = None

    # --- bytes ---------------------------------------------------------

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Hangup()
        self.buf += chunk

    def read(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        self.sock.sendall(data)

    # --- the upgrade ---------------------------------------------------

    def read_request(self):
        while b'\r\n\r\n' not in self.buf:
            if len(self.buf) > 65536:
                raise Hangup()
            self.fill()
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        method, self.target, version = lines[0].split(' ')
        for line in lines[1:]:
            name, value = line.split(':', 1)
            self.head[name.strip().lower()] = value.strip()
        return method, version

    def answer(self, accept):
        self.send(('HTTP/1.1 101 Switching Protocols\r\n'
                   'Upgrade: websocket\r\n'
                   'Connection: Upgrade\r\n'
                   'Sec-WebSocket-Accept: %s\r\n\r\n' % accept)
                  .encode('ascii'))

    # --- frames --------------------------------------------------------

    def frame(self, opcode, payload=b'', fin=True, rsv=0, mask=False):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        m = 0x80 if mask else 0
        n = len(payload)
        if n < 126:
            hdr = struct.pack('!BB', b0, m | n)
        elif n < 65536:
            hdr = struct.pack('!BBH', b0, m | 126, n)
        else:
            hdr = struct.pack('!BBQ', b0, m | 127, n)
        if mask:
            key = os.urandom(4)
            hdr += key
            payload = unmask(payload, key)
        self.send(hdr + payload)

    def read_frame(self):
        b0, b1 = self.read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack('!H', self.read(2))[0]
        elif n == 127:
            n = struct.unpack('!Q', self.read(8))[0]
        if not b1 & 0x80:
            # A client must mask every frame (RFC 6455 5.1).
            self.close(1002, b'unmasked')
            raise Hangup()
        key = self.read(4)
        return b0 >> 7, (b0 >> 4) & 7, b0 & 0x0F, unmask(self.read(n), key)

    def close(self, code, reason=b''):
        self.frame(CLOSE, struct.pack('!H', code) + reason)

    def read_message(self):
        """The next data message; control frames are handled on the way.
        A close from the client is recorded and echoed, then Hangup."""
        parts, kind = [], None
        while True:
            fin, rsv, opcode, data = self.read_frame()
            if opcode == PING:
                self.pings_seen += 1
                if not self.mute:
                    self.frame(PONG, data)
                continue
            if opcode == PONG:
                self.pong = data
                continue
            if opcode == CLOSE:
                code = struct.unpack('!H', data[:2])[0] if data else None
                with lock:
                    last_close['code'] = code
                self.frame(CLOSE, data[:2])
                raise Hangup()
            if opcode != CONT:
                kind = opcode
            parts.append(data)
            if fin:
                return kind, b''.join(parts)

    def wait_close(self):
        """After our close: read until the client's close, then hang up."""
        while True:
            fin, rsv, opcode, data = self.read_frame()
            if opcode == CLOSE:
                code = struct.unpack('!H', data[:2])[0] if data else None
                with lock:
                    last_close['code'] = code
                raise Hangup()

    # --- what the server does ------------------------------------------

    def command(self, text):
        if text == 'headers':
            key = self.head.get('sec-websocket-key', '')
            raw = base64.b64decode(key) if key else b''
            reply = {'target': self.target,
                     'authorization': self.head.get('authorization'),
                     'host': self.head.get('host'),
                     'version': self.head.get('sec-websocket-version'),
                     'key_bytes': len(raw)}
            self.frame(TEXT, json.dumps(reply).encode())
        elif text.startswith('big:'):
            # One text message in 4 KiB fragments, a ping in the middle.
            n = int(text[4:])
            body = (b'0123456789abcdef' * (n // 16 + 1))[:n]
            chunks = [body[i:i + 4096] for i in range(0, n, 4096)]
            for i, chunk in enumerate(chunks):
                self.frame(TEXT if i == 0 else CONT, chunk,
                           fin=(i == len(chunks) - 1))
                if i == len(chunks) // 2:
                    self.frame(PING, b'mid')
        elif text == 'ping-me':
            self.pong = None
            self.frame(PING, b'hello')
            while self.pong is None:
                fin, rsv, opcode, data = self.read_frame()
                if opcode == PONG:
                    self.pong = data
            self.frame(TEXT, b'pong:' + self.pong)
        elif text == 'pings':
            self.frame(TEXT, str(self.pings_seen).encode())
        elif text == 'mute':
            self.mute = True
        elif text == 'close-me':
            self.close(4000, b'bye')
            self.wait_close()
        elif text == 'rsv':
            self.frame(TEXT, b'reserved bits', rsv=4)
            self.read_message()
        elif text == 'masked':
            self.frame(TEXT, b'masked by the server', mask=True)
            self.read_message()
        elif text == 'opcode':
            self.frame(0x3, b'reserved opcode')
            self.read_message()
        elif text == 'bad-utf8':
            self.frame(TEXT, b'\xc0\xaf')
            self.read_message()
        elif text == 'last-close':
            with lock:
                code = last_close['code']
            self.frame(TEXT, json.dumps({'code': code}).encode())
        elif text == 'hangup':
            raise Hangup()
        else:
            self.frame(TEXT, text.encode())

    def serve(self):
        method, version = self.read_request()
        path = self.target.split('?', 1)[0]
        key = self.head.get('sec-websocket-key', '')
        if path == '/deny':
            self.send(b'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
            return
        if path == '/hangup':
            self.send(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: we')
            return
        if path == '/slow':
            while True:
                self.fill()
        if path == '/badaccept':
            self.answer(accept_for('AAAAAAAAAAAAAAAAAAAAAA=='))
            while True:
                self.fill()
        if path != '/echo':
            self.send(b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
            return
        self.answer(accept_for(key))
        while True:
            kind, data = self.read_message()
            if kind == TEXT:
                self.command(data.decode('utf-8'))
            else:
                self.frame(kind, data)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            Session(self.request).serve()
        except (Hangup, OSError, ValueError):
            pass


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


def serve(tls_dir=None):
    server = Server(('127.0.0.1', 0), Handler)
    if tls_dir is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, 'server.pem'),
                            os.path.join(tls_dir, 'server.key'))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    ports = {'ws': serve(), 'wss': serve(sys.argv[1])}
    print(json.dumps(ports), flush=True)
    sys.stdin.read()


if __name__ == '__main__':
    main()
