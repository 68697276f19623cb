"""berth-cp's command line: serve, and the operator's commands.

Every operator command works on the database file directly, so it works
whether or not a server is running; a running server notices new tasks
and cancels within about 10 ms (server.py, the watcher).
"""

import argparse
import json
import os
import re
import shlex
import signal
import sys
import time

import schema
from server import ROUTES, Settings, open_server
from store import NotFound, Store
from wire import WireError, b64url_encode, canonical_json, parse_json

EXIT_USAGE = 2
EXIT_NOT_FOUND = 1


class UsageError(Exception):
    """A bad argument; the message is printed and we exit 2."""


# -- argument parsing ------------------------------------------------------

def _positive(text):
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < 1:
        raise argparse.ArgumentTypeError("%r is not a positive integer"
                                         % text)
    return int(text)


def _count(text):
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    return int(text)


def _size(text):
    """Bytes from "512", "256k", "64m", "2g" (powers of 1024)."""
    match = re.fullmatch(r"([0-9]{1,12})([kmgKMG]?)", text)
    if not match:
        raise argparse.ArgumentTypeError("%r is not a size like 256m" % text)
    shift = {"": 0, "k": 10, "m": 20, "g": 30}[match.group(2).lower()]
    return int(match.group(1)) << shift


def _cpus(text):
    """Milli-CPUs from a decimal CPU count: "0.5" -> 500."""
    match = re.fullmatch(r"([0-9]{1,4})(?:\.([0-9]{1,3}))?", text)
    if not match:
        raise argparse.ArgumentTypeError("%r is not a CPU count like 0.5"
                                         % text)
    return int(match.group(1)) * 1000 + int((match.group(2) or "0")
                                            .ljust(3, "0"))


def _seconds_or_none(text):
    """Retry-After seconds, or "none" for no header at all."""
    if text == "none":
        return None
    return _count(text)


def _signed(text):
    if not re.fullmatch(r"-?[0-9]{1,9}", text):
        raise argparse.ArgumentTypeError("%r is not an integer" % text)
    return int(text)


def _fail_arguments(parser, prefix):
    """How test failures look; shared by `serve` and `fail`."""
    parser.add_argument(prefix + "status", type=int, default=503,
                        choices=(429, 500, 503),
                        help="HTTP status of each failure (default 503)")
    parser.add_argument(prefix + "retry-after", type=_seconds_or_none,
                        default=1, metavar="SEC|none",
                        help="Retry-After to send (default 1)")
    parser.add_argument(prefix + "http-date", action="store_true",
                        help="send Retry-After as an HTTP-date")
    parser.add_argument(prefix + "only", choices=[r[2] for r in ROUTES],
                        help="fail only this endpoint")


def _port(text):
    """{"host_ip"?, "host_port", "container_port", "protocol"?} from
    [IP:]HOST:CONTAINER[/tcp|/udp]."""
    match = re.fullmatch(r"(?:(.+):)?([0-9]{1,5}):([0-9]{1,5})(?:/(tcp|udp))?",
                         text)
    if not match:
        raise argparse.ArgumentTypeError(
            "%r is not [IP:]HOST:CONTAINER[/tcp|/udp]" % text)
    port = {"host_port": int(match.group(2)),
            "container_port": int(match.group(3))}
    if match.group(1):
        port["host_ip"] = match.group(1).strip("[]")
    if match.group(4):
        port["protocol"] = match.group(4)
    return port


def _env(text):
    name, eq, value = text.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError("%r is not NAME=VALUE" % text)
    return {"name": name, "value": value}


def _health(text):
    """http:PORT:PATH, tcp:PORT or cmd:COMMAND LINE."""
    kind, _, rest = text.partition(":")
    if kind == "http":
        port, _, path = rest.partition(":")
        if port.isdigit() and path:
            return {"type": "http", "port": int(port), "path": path}
    elif kind == "tcp" and rest.isdigit():
        return {"type": "tcp", "port": int(rest)}
    elif kind == "cmd" and rest:
        return {"type": "cmd", "cmd": shlex.split(rest)}
    raise argparse.ArgumentTypeError(
        "%r is not http:PORT:PATH, tcp:PORT or cmd:COMMAND" % text)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="berth-cp", description="berth's reference control plane "
        "(a reference, not a production control plane)")
    parser.add_argument("--db", default=os.environ.get("BERTH_CP_DB"),
                        help="database file (default: $BERTH_CP_DB)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the native protocol")
    serve.add_argument("--listen", default="127.0.0.1:8700",
                       help="HOST:PORT or [ADDR]:PORT; port 0 picks one")
    serve.add_argument("--tls-cert", help="PEM certificate chain")
    serve.add_argument("--tls-key", help="PEM private key")
    serve.add_argument("--sign-tasks", action="store_true",
                       help="sign every task and tell nodes to require it")
    serve.add_argument("--heartbeat-sec", type=_positive, default=30)
    serve.add_argument("--poll-timeout-sec", type=_count, default=30)
    serve.add_argument("--retry-max-sec", type=_positive, default=300)
    serve.add_argument("--report-timeout-sec", type=_positive, default=300)
    serve.add_argument("--clock-skew-sec", type=_positive, default=300)
    serve.add_argument("--fail-next", type=_count, default=0,
                       help="test only: answer the next N requests 503")
    _fail_arguments(serve, "--fail-")
    serve.add_argument("--clock-offset-sec", type=_signed, default=0,
                       help="test only: tell nodes a time this far off")
    serve.add_argument("--quiet", action="store_true",
                       help="do not log each request on stderr")

    token = sub.add_parser("token", help="enrolment tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="print a new token")
    create.add_argument("--name", default="", help="a label for the token")
    create.add_argument("--ttl", type=_positive, default=86400,
                        help="seconds until it expires (default 86400)")

    nodes = sub.add_parser("nodes", help="list enrolled nodes")
    nodes.add_argument("--json", action="store_true")
    nodes.add_argument("--remove", metavar="ID",
                       help="forget node ID (it must enrol again)")

    task = sub.add_parser("task", help="queue, list and cancel tasks")
    task_sub = task.add_subparsers(dest="task_command", required=True)
    add = task_sub.add_parser("add", help="queue a task; prints its id")
    _task_add_arguments(add)
    listing = task_sub.add_parser("list", help="list tasks")
    listing.add_argument("--node", help="only tasks for or taken by NODE")
    listing.add_argument("--json", action="store_true")
    cancel = task_sub.add_parser("cancel", help="cancel a task")
    cancel.add_argument("task_id")

    events = sub.add_parser("events", help="a task's status events")
    events.add_argument("task_id")
    events.add_argument("--json", action="store_true")

    logs = sub.add_parser("logs", help="a task's log, reassembled")
    logs.add_argument("task_id")
    logs.add_argument("--stream", choices=("stdout", "stderr", "build"))

    beats = sub.add_parser("heartbeats", help="a node's last heartbeats")
    beats.add_argument("node_id")
    beats.add_argument("--last", type=_positive, default=10)
    beats.add_argument("--json", action="store_true")

    fail = sub.add_parser("fail", help="test only: make a running server "
                          "fail the next N requests")
    fail.add_argument("next", type=_count, metavar="N")
    _fail_arguments(fail, "--")

    key = sub.add_parser("key", help="the task-signing key")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    key_sub.add_parser("show", help="print the public key (base64url)")
    return parser


def _task_add_arguments(add):
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--node", help="the node that must run it")
    where.add_argument("--any", action="store_true",
                       help="offer it to every node; the first accept wins")
    add.add_argument("--kind", required=True, choices=schema.KINDS)
    add.add_argument("--app", required=True)
    add.add_argument("--image")
    add.add_argument("--repo", help="git URL to build from")
    add.add_argument("--commit", help="40-hex commit of --repo")
    add.add_argument("--ref", help="branch or tag of --repo")
    add.add_argument("--dockerfile", help="Dockerfile path in --repo")
    add.add_argument("--port", type=_port, action="append", default=[],
                     help="[IP:]HOST:CONTAINER[/tcp|/udp], repeatable")
    add.add_argument("--env", type=_env, action="append", default=[],
                     help="NAME=VALUE, repeatable")
    add.add_argument("--secret-env", type=_env, action="append", default=[],
                     help="NAME=VALUE marked secret, repeatable")
    add.add_argument("--memory", type=_size, help="memory limit, e.g. 256m")
    add.add_argument("--cpus", type=_cpus, help="CPU limit, e.g. 0.5")
    add.add_argument("--pids", type=_positive, help="pids limit")
    add.add_argument("--replicas", type=_count)
    add.add_argument("--health", type=_health,
                     help="http:PORT:PATH, tcp:PORT or cmd:COMMAND")
    add.add_argument("--timeout", type=_positive, help="timeout_sec")
    add.add_argument("--grace", type=_count, help="stop/restart grace_sec")
    add.add_argument("--workdir", help="run: working directory")
    add.add_argument("--follow", action="store_true", help="logs: follow")
    add.add_argument("--tail", type=_count, help="logs: last N lines")
    add.add_argument("--since", type=_count, help="logs: since unix time")
    add.add_argument("--spec-json", help="JSON object merged into the spec")
    add.add_argument("--not-after", type=_positive, default=3600,
                     help="seconds from now until the task expires")
    test = add.add_argument_group("test only (see README)")
    test.add_argument("--unsigned", action="store_true",
                      help="never sign this task")
    test.add_argument("--forge", action="store_true",
                      help="send a signature with one bit flipped")
    test.add_argument("--sign-as-node", metavar="OTHER",
                      help="send it validly signed for node OTHER")
    test.add_argument("--expired", action="store_true",
                      help="not_after in the past, delivered anyway")
    test.add_argument("--replay", type=_count, metavar="SEQ",
                      help="deliver it with this (old) seq")
    test.add_argument("--unchecked", action="store_true",
                      help="do not check the spec against the schema")
    add.add_argument("--cmd", nargs=argparse.REMAINDER, default=None,
                     help="the command; takes every remaining argument")


# -- task add ----------------------------------------------------------------

def build_spec(args):
    """The spec object for `task add`, from its flags."""
    spec = {}
    if args.image:
        spec["image"] = args.image
    if args.repo:
        repo = {"url": args.repo}
        if args.commit:
            repo["commit"] = args.commit
        if args.ref:
            repo["ref"] = args.ref
        spec["repo"] = repo
    elif args.commit or args.ref:
        raise UsageError("--commit and --ref need --repo")
    simple = (("dockerfile", args.dockerfile), ("memory_bytes", args.memory),
              ("cpu_millis", args.cpus), ("pids", args.pids),
              ("replicas", args.replicas), ("health", args.health),
              ("timeout_sec", args.timeout), ("grace_sec", args.grace),
              ("workdir", args.workdir), ("tail", args.tail),
              ("since", args.since))
    for name, value in simple:
        if value is not None:
            spec[name] = value
    if args.follow:
        spec["follow"] = True
    if args.port:
        spec["ports"] = args.port
    env = list(args.env) + [dict(e, secret=True) for e in args.secret_env]
    if env:
        spec["env"] = env
    if args.cmd is not None:
        if not args.cmd:
            raise UsageError("--cmd needs a command")
        spec["cmd"] = args.cmd
    if args.spec_json:
        try:
            extra = parse_json(args.spec_json.encode("utf-8"))
        except WireError as e:
            raise UsageError("--spec-json: %s" % e) from None
        if not isinstance(extra, dict):
            raise UsageError("--spec-json must be a JSON object")
        spec.update(extra)
    if not args.unchecked:
        try:
            schema.check(schema.SPECS[args.kind], spec, "spec")
            schema.check(schema.APP, args.app, "app")
        except schema.FieldError as e:
            raise UsageError("%s (see PROTOCOL.md section 5.2)" % e) from None
    # Even --unchecked cannot queue what has no canonical form: the
    # server could not sign it.
    try:
        canonical_json(spec)
    except WireError as e:
        raise UsageError("spec%s" % str(e)[1:]) from None
    return spec


def cmd_task_add(store, args, out):
    spec = build_spec(args)
    now = int(time.time())
    not_after = now - 60 if args.expired else now + args.not_after
    test = {"unsigned": args.unsigned, "forge": args.forge,
            "sign_as_node": args.sign_as_node, "replay_seq": args.replay,
            "deliver_expired": args.expired}
    if args.replay == 0:
        raise UsageError("--replay wants a seq of 1 or more")
    task_id = store.add_task(args.kind, args.app, spec,
                             None if args.any else args.node, not_after, now,
                             test)
    print(task_id, file=out)


# -- listings ----------------------------------------------------------------

def _when(stamp):
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def cmd_nodes(store, args, out):
    if args.remove:
        store.remove_node(args.remove)
        print("removed %s" % args.remove, file=out)
        return
    rows = store.nodes()
    if args.json:
        json.dump([{"id": r["id"], "name": r["name"],
                    "public_key": r["public_key"], "enrolled": r["enrolled"],
                    "last_seen": r["last_seen"],
                    "agent_version": r["agent_version"],
                    "capabilities": json.loads(r["capabilities"])}
                   for r in rows], out, indent=2)
        print(file=out)
        return
    for r in rows:
        print("%-20s %-24s enrolled %s  last seen %s  %s" %
              (r["id"], r["name"], _when(r["enrolled"]),
               _when(r["last_seen"]), r["agent_version"]), file=out)


def _task_json(row):
    return {"id": row["id"], "kind": row["kind"], "app": row["app"],
            "target": row["target"], "state": row["state"],
            "accepted_by": row["accepted_by"], "created": row["created"],
            "not_after": row["not_after"],
            "cancel_requested": bool(row["cancel_requested"]),
            "log_bytes": row["log_bytes"], "spec": json.loads(row["spec"])}


def cmd_task_list(store, args, out):
    rows = store.tasks(args.node)
    if args.json:
        json.dump([_task_json(r) for r in rows], out, indent=2)
        print(file=out)
        return
    for r in rows:
        state = r["state"] + ("*" if r["cancel_requested"] and
                              r["state"] not in ("cancelled",) else "")
        print("%-20s %-8s %-16s %-11s target %-20s by %s" %
              (r["id"], r["kind"], r["app"], state, r["target"] or "any",
               r["accepted_by"] or "-"), file=out)


def cmd_task_cancel(store, args, out):
    print(store.cancel_task(args.task_id), file=out)


def cmd_events(store, args, out):
    if store.task(args.task_id) is None:
        raise NotFound("no task %s" % args.task_id)
    rows = store.events(args.task_id)
    if args.json:
        events = []
        for r in rows:
            event = json.loads(r["body"])
            event.update(node_id=r["node_id"], received=r["received"])
            events.append(event)
        json.dump(events, out, indent=2)
        print(file=out)
        return
    for r in rows:
        e = json.loads(r["body"])
        print("%s %4d %s %-9s %-9s %s%s" %
              (r["node_id"], e["seq"], _when(e["time"]), e["state"],
               e.get("stage", "-"), e.get("message", ""),
               "" if "exit_code" not in e else " (exit %d)" % e["exit_code"]),
              file=out)


def cmd_logs(store, args, out):
    if store.task(args.task_id) is None:
        raise NotFound("no task %s" % args.task_id)
    sink = getattr(out, "buffer", None)
    for r in store.log_chunks(args.task_id):
        if args.stream and r["stream"] != args.stream:
            continue
        if sink is not None:
            sink.write(bytes(r["data"]))
        else:
            out.write(bytes(r["data"]).decode("utf-8", "replace"))
    out.flush()


def cmd_heartbeats(store, args, out):
    if store.node(args.node_id) is None:
        raise NotFound("no node %s" % args.node_id)
    rows = store.heartbeats(args.node_id, args.last)
    if args.json:
        json.dump([{"received": r["received"], "body": json.loads(r["body"])}
                   for r in rows], out, indent=2)
        print(file=out)
        return
    for r in rows:
        body = json.loads(r["body"])
        m = body["metrics"]
        print("%s cpu %5.1f%% mem %d/%d MiB load %.2f containers %d/%d "
              "running tasks %d audit %d:%s" %
              (_when(r["received"]), m["cpu_percent"],
               m["memory_used_bytes"] >> 20, m["memory_total_bytes"] >> 20,
               m["load1"], m["containers_running"], m["containers_total"],
               len(body["tasks_running"]), body["audit_head"]["records"],
               body["audit_head"]["sha256"][:12]), file=out)


def cmd_key_show(store, args, out):
    from ed25519 import public_key_from_seed
    print(b64url_encode(public_key_from_seed(store.signing_seed())), file=out)


def cmd_fail(store, args, out):
    store.set_fail_switch({"next": args.next, "status": args.status,
                           "retry_after": args.retry_after,
                           "http_date": args.http_date, "only": args.only})


def cmd_token_create(store, args, out):
    print(store.create_token(args.name, args.ttl, int(time.time())), file=out)


# -- serve -------------------------------------------------------------------

def cmd_serve(args, out):
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.poll_timeout_sec > 60:
        raise UsageError("--poll-timeout-sec is at most 60")
    if args.report_timeout_sec < 2 * args.heartbeat_sec:
        print("berth-cp: warning: --report-timeout-sec %d is less than two "
              "heartbeats; busy tasks may be marked lost"
              % args.report_timeout_sec, file=sys.stderr)
    settings = Settings(heartbeat_sec=args.heartbeat_sec,
                        poll_timeout_sec=args.poll_timeout_sec,
                        retry_max_sec=args.retry_max_sec,
                        report_timeout_sec=args.report_timeout_sec,
                        sign_tasks=args.sign_tasks,
                        clock_skew_sec=args.clock_skew_sec,
                        fail={"next": args.fail_next,
                              "status": args.fail_status,
                              "retry_after": args.fail_retry_after,
                              "http_date": args.fail_http_date,
                              "only": args.fail_only},
                        clock_offset_sec=args.clock_offset_sec,
                        verbose=not args.quiet)
    try:
        server = open_server(args.db, args.listen, settings, args.tls_cert,
                             args.tls_key)
    except ValueError as e:
        raise UsageError(str(e)) from None

    def on_signal(signum, frame):
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("listening on %s" % server.url, file=out, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.close()
        server.store.close()


COMMANDS = {
    ("nodes", None): cmd_nodes,
    ("task", "add"): cmd_task_add,
    ("task", "list"): cmd_task_list,
    ("task", "cancel"): cmd_task_cancel,
    ("events", None): cmd_events,
    ("logs", None): cmd_logs,
    ("heartbeats", None): cmd_heartbeats,
    ("key", "show"): cmd_key_show,
    ("fail", None): cmd_fail,
    ("token", "create"): cmd_token_create,
}


def main(argv=None, out=None):
    """Run one command; the exit status."""
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.db:
        parser.error("--db FILE (or BERTH_CP_DB) is needed")
    try:
        if args.command == "serve":
            cmd_serve(args, out)
            return 0
        sub = (getattr(args, "task_command", None) or
               getattr(args, "token_command", None) or
               getattr(args, "key_command", None))
        store = Store(args.db)
        try:
            COMMANDS[(args.command, sub)](store, args, out)
        finally:
            store.close()
    except UsageError as e:
        print("berth-cp: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except NotFound as e:
        print("berth-cp: %s" % e, file=sys.stderr)
        return EXIT_NOT_FOUND
    except OSError as e:
        print("berth-cp: %s" % e, file=sys.stderr)
        return EXIT_NOT_FOUND
    return 0
