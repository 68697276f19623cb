#!/usr/bin/env python3
"""faultproxy.py: byte proxies that can stop a request at a chosen point.

tests/faults/run puts one of these between berthd and git daemon (TCP)
and one between berthd and dockerd (unix socket), so that a deploy can
be caught, reliably, in the middle of a given stage: a clone waiting for
the git server, an image build or a container start waiting for the
engine.  Nothing is parsed: the bytes a client sends are searched for
the patterns of the rules, and a chunk that matches a rule whose hold
file exists is kept back until that file is removed.

    faultproxy.py CTLDIR tcp  LISTEN_PORT  UPSTREAM_PORT  RULE...
    faultproxy.py CTLDIR unix LISTEN_PATH  UPSTREAM_PATH  RULE...

RULE is NAME=REGEX (a Python bytes regular expression).  While
CTLDIR/hold-NAME exists, a chunk matching REGEX is not forwarded; the
proxy then appends a line to CTLDIR/held-NAME (so the test knows the
client is stuck there) and keeps reading from the client, so that it
notices when the client goes away.  When the hold file is removed the
kept bytes go on to the upstream, unless the client has gone in the
meantime: then they are dropped, and the upstream never sees the
request (a killed process must not have its last request carried out
for it afterwards).  The upstream is connected only once the first
chunk is on its way, so a held git connection has not reached the git
server yet.

A TCP proxy listens on 127.0.0.1; LISTEN_PORT 0 picks a port.  Either
kind prints "listening PORT|PATH" once it accepts connections.
"""

import asyncio
import os
import re
import sys
import time

POLL = 0.05
# FAULTPROXY_TRACE=1: the first line of every chunk a client sends, on stderr.
TRACE = os.environ.get("FAULTPROXY_TRACE") == "1"


class Rule:
    def __init__(self, ctl, spec):
        name, _, pattern = spec.partition("=")
        if not name or not pattern:
            raise SystemExit("faultproxy: bad rule %r" % spec)
        self.name = name
        self.regex = re.compile(pattern.encode())
        self.hold = os.path.join(ctl, "hold-" + name)
        self.held = os.path.join(ctl, "held-" + name)

    def active(self):
        return os.path.exists(self.hold)

    def note(self, what):
        with open(self.held, "a") as f:
            f.write("%.3f %s\n" % (time.time(), what))


class Proxy:
    def __init__(self, ctl, kind, upstream, rules):
        self.ctl = ctl
        self.kind = kind
        self.upstream = upstream
        self.rules = rules
        self.conns = 0

    async def connect_upstream(self):
        if self.kind == "tcp":
            return await asyncio.open_connection("127.0.0.1", self.upstream)
        return await asyncio.open_unix_connection(self.upstream)

    def trace(self, conn, data):
        if TRACE:
            line = data.split(b"\r\n", 1)[0][:100]
            sys.stderr.write("conn %d: %d bytes: %r\n" % (conn, len(data),
                                                         line))
            sys.stderr.flush()

    def matching(self, data, fresh=0):
        """The first active rule matching data in a match that ends in
        its last `fresh` bytes (all of it if 0): the start of data is
        only the tail of what went before, kept so that a pattern split
        between two reads is found, and must not match again."""
        for rule in self.rules:
            if not rule.active():
                continue
            for m in rule.regex.finditer(data):
                if fresh == 0 or m.end() > len(data) - fresh:
                    return rule
        return None

    async def pump(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError, RuntimeError):
                pass

    async def hold(self, rule, reader, pending, conn):
        """Keep pending back while the rule holds; None if the client
        went away meanwhile, else what it sent in all."""
        rule.note("conn %d held" % conn)
        eof = False
        while rule.active():
            if eof:
                await asyncio.sleep(POLL)
                continue
            try:
                more = await asyncio.wait_for(reader.read(65536), POLL)
            except asyncio.TimeoutError:
                continue
            except (ConnectionError, OSError):
                more = b""
            if not more:
                eof = True
                # A client that closed its end may still wait for the
                # answer (half close); one that died cannot: a peek on
                # the socket tells them apart only by an error, so a
                # plain EOF while held is taken as gone.
                rule.note("conn %d client gone while held" % conn)
                return None
            pending += more
        rule.note("conn %d released" % conn)
        return pending

    async def client(self, creader, cwriter):
        self.conns += 1
        conn = self.conns
        uwriter = None
        try:
            tail = b""
            pending = b""
            # Until the upstream is connected, every chunk is looked at
            # on its own; after that, the client-to-upstream pump looks.
            data = await creader.read(65536)
            if not data:
                return
            self.trace(conn, data)
            rule = self.matching(data)
            if rule is not None:
                data = await self.hold(rule, creader, data, conn)
                if data is None:
                    return
            ureader, uwriter = await self.connect_upstream()
            uwriter.write(data)
            await uwriter.drain()
            tail = data[-512:]
            down = asyncio.ensure_future(self.pump(ureader, cwriter))
            while True:
                try:
                    data = await creader.read(65536)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    break
                self.trace(conn, data)
                rule = self.matching(tail + data, len(data))
                if rule is not None:
                    data = await self.hold(rule, creader, data, conn)
                    if data is None:
                        break
                tail = (tail + data)[-512:]
                uwriter.write(data)
                await uwriter.drain()
            try:
                if uwriter.can_write_eof():
                    uwriter.write_eof()
            except (ConnectionError, OSError, RuntimeError):
                pass
            if data is None:
                down.cancel()
            else:
                await down
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    try:
                        w.close()
                    except (ConnectionError, OSError, RuntimeError):
                        pass


async def main():
    if len(sys.argv) < 5 or sys.argv[2] not in ("tcp", "unix"):
        raise SystemExit(__doc__)
    ctl, kind, listen, upstream = sys.argv[1:5]
    rules = [Rule(ctl, spec) for spec in sys.argv[5:]]
    if kind == "tcp":
        upstream = int(upstream)
    proxy = Proxy(ctl, kind, upstream, rules)
    if kind == "tcp":
        server = await asyncio.start_server(proxy.client, "127.0.0.1",
                                            int(listen))
        where = server.sockets[0].getsockname()[1]
    else:
        if os.path.exists(listen):
            os.unlink(listen)
        server = await asyncio.start_unix_server(proxy.client, listen)
        # The runner joins the group of the socket it is given, as it
        # would the engine's: give ours the engine's group and mode.
        st = os.stat(upstream)
        os.chown(listen, -1, st.st_gid)
        os.chmod(listen, 0o660)
        where = listen
    print("listening %s" % where, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
