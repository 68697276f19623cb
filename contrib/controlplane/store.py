"""The reference control plane's state, in one SQLite file.

The server and the CLI are separate processes that share this file: the
CLI enqueues and cancels tasks, the server hands them out.  Each process
opens its own Store; every method is one IMMEDIATE transaction under the
Store's lock, so that a read-then-write (accepting a task, appending a
log chunk) cannot interleave with another writer.  WAL mode lets readers
run while a writer commits.

Secrets are stored as SHA-256 digests only (enrolment tokens, node
credentials); the task-signing seed is the one secret kept as is, which
is why the file is created mode 0600.

Task states: queued -> accepted -> running -> succeeded | failed |
cancelled | rejected; queued -> cancelled | expired | rejected; accepted
or running -> lost when the node goes silent (provisional: a later
report from the node moves the task on again).
"""

import contextlib
import hashlib
import json
import os
import secrets
import socket
import sqlite3
import threading

from errors import ProtocolError
from wire import b64url_encode, dump_json

TERMINAL = ("succeeded", "failed", "cancelled", "rejected", "expired")
LIVE = ("accepted", "running", "lost")
MAX_LOG_BYTES_PER_TASK = 64 << 20
HEARTBEATS_KEPT_PER_NODE = 1000
TASKS_PER_POLL = 16
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
	hash TEXT PRIMARY KEY,		-- SHA-256 hex of the token
	name TEXT NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	used_at INTEGER,
	node_id TEXT);
CREATE TABLE IF NOT EXISTS nodes (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	public_key TEXT NOT NULL,	-- base64url, 32 bytes
	credential_hash TEXT NOT NULL UNIQUE,
	token_hash TEXT NOT NULL,
	enrolled INTEGER NOT NULL,
	first_auth INTEGER,		-- first request with the credential
	last_seen INTEGER,
	seq_counter INTEGER NOT NULL DEFAULT 0,
	agent_version TEXT NOT NULL,
	capabilities TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS heartbeats (
	id INTEGER PRIMARY KEY,
	node_id TEXT NOT NULL,
	received INTEGER NOT NULL,
	body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS heartbeats_node ON heartbeats (node_id, id);
CREATE TABLE IF NOT EXISTS tasks (
	id TEXT PRIMARY KEY,
	kind TEXT NOT NULL,
	app TEXT NOT NULL,
	spec TEXT NOT NULL,
	target TEXT,			-- node id, NULL: any node
	created INTEGER NOT NULL,
	not_after INTEGER NOT NULL,
	state TEXT NOT NULL,
	accepted_by TEXT,
	accepted_at INTEGER,
	last_report INTEGER,
	cancel_requested INTEGER NOT NULL DEFAULT 0,
	cancel_sent INTEGER NOT NULL DEFAULT 0,
	log_seq INTEGER NOT NULL DEFAULT 0,
	log_bytes INTEGER NOT NULL DEFAULT 0,
	-- test-only switches (README "Test switches"); all off in real use
	unsigned INTEGER NOT NULL DEFAULT 0,
	forge INTEGER NOT NULL DEFAULT 0,
	sign_as_node TEXT,
	replay_seq INTEGER,
	deliver_expired INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS offers (
	task_id TEXT NOT NULL,
	node_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	offered INTEGER NOT NULL,
	sent INTEGER NOT NULL DEFAULT 0,
	closed TEXT,			-- accepted, taken, rejected, cancelled
	PRIMARY KEY (task_id, node_id));
CREATE INDEX IF NOT EXISTS offers_node ON offers (node_id, seq);
CREATE TABLE IF NOT EXISTS events (
	task_id TEXT NOT NULL,
	node_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	body TEXT NOT NULL,
	received INTEGER NOT NULL,
	PRIMARY KEY (task_id, node_id, seq));
CREATE TABLE IF NOT EXISTS logs (
	task_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	"offset" INTEGER NOT NULL,
	stream TEXT NOT NULL,
	data BLOB NOT NULL,
	received INTEGER NOT NULL,
	PRIMARY KEY (task_id, seq));
"""


class NotFound(LookupError):
    """An operator named a task or node that does not exist."""


def secret_hash(secret):
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_id(prefix):
    return prefix + secrets.token_hex(8)


class Store:
    """All reads and writes of the database file."""

    def __init__(self, path):
        if path != ":memory:" and not os.path.exists(path):
            # Created here, not by sqlite3, so that it is 0600 from the
            # start: it holds the task-signing seed.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        self.path = path
        self.wake_path = os.path.abspath(path) + ".wake"
        self._lock = threading.RLock()
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout = 10000")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.executescript(SCHEMA)
        with self._tx() as db:
            version = self._meta(db, "schema_version")
            if version is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))
            elif version != str(SCHEMA_VERSION):
                raise OSError("%s: database schema %s, this berth-cp "
                              "knows %d" % (path, version, SCHEMA_VERSION))
            if self._meta(db, "task_signing_seed") is None:
                db.execute("INSERT INTO meta VALUES ('task_signing_seed', ?)",
                           (secrets.token_hex(32),))

    def close(self):
        self.db.close()

    def poke_server(self):
        """Tell a running server (if any) to look at the database now.

        One datagram to the server's wake socket; without a server there
        is no socket and nothing to do.  The server would notice within
        50 ms anyway; the poke makes it within a millisecond.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.sendto(b"!", self.wake_path)
        except OSError:
            pass
        finally:
            sock.close()

    @contextlib.contextmanager
    def _tx(self):
        """One IMMEDIATE transaction: the write lock is taken up front,
        so a read-modify-write never fails half way with SQLITE_BUSY."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @staticmethod
    def _meta(db, key):
        row = db.execute("SELECT value FROM meta WHERE key = ?",
                         (key,)).fetchone()
        return row["value"] if row else None

    def signing_seed(self):
        with self._tx() as db:
            return bytes.fromhex(self._meta(db, "task_signing_seed"))

    # -- enrolment ---------------------------------------------------------

    def create_token(self, name, ttl_sec, now):
        token = "bet_" + b64url_encode(secrets.token_bytes(24))
        with self._tx() as db:
            db.execute("INSERT INTO tokens (hash, name, created, expires) "
                       "VALUES (?, ?, ?, ?)",
                       (secret_hash(token), name, now, now + ttl_sec))
        return token

    def enrol(self, token, name, public_key, capabilities, agent_version,
              now):
        """(node id, credential) for a valid token, else token_invalid.

        A used token works once more only for the same public key and
        only until the node has used its credential: that is the node
        retrying an enrolment whose answer it never received.  The retry
        gets the same node id and a fresh credential (the old one is
        replaced, never sent twice).
        """
        token_hash = secret_hash(token)
        credential = "bnc_" + b64url_encode(secrets.token_bytes(32))
        with self._tx() as db:
            row = db.execute("SELECT * FROM tokens WHERE hash = ?",
                             (token_hash,)).fetchone()
            if row is None or row["expires"] < now:
                raise ProtocolError("token_invalid",
                                    "unknown or expired enrolment token")
            if row["used_at"] is not None:
                node = db.execute("SELECT * FROM nodes WHERE id = ?",
                                  (row["node_id"],)).fetchone()
                if (node is None or node["public_key"] != public_key or
                        node["first_auth"] is not None):
                    raise ProtocolError("token_invalid",
                                        "enrolment token already used")
                db.execute("UPDATE nodes SET credential_hash = ? "
                           "WHERE id = ?",
                           (secret_hash(credential), node["id"]))
                return node["id"], credential
            node_id = _new_id("n_")
            db.execute(
                "INSERT INTO nodes (id, name, public_key, credential_hash, "
                "token_hash, enrolled, agent_version, capabilities) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (node_id, name or node_id, public_key,
                 secret_hash(credential), token_hash, now, agent_version,
                 dump_json(capabilities).decode()))
            db.execute("UPDATE tokens SET used_at = ?, node_id = ? "
                       "WHERE hash = ?", (now, node_id, token_hash))
        return node_id, credential

    def node_by_credential(self, credential):
        """The node row for a credential, or None."""
        with self._lock:
            return self.db.execute(
                "SELECT * FROM nodes WHERE credential_hash = ?",
                (secret_hash(credential),)).fetchone()

    def mark_seen(self, node, now):
        """Note an authenticated request (after its signature verified).

        The first one closes the enrolment retry window; later ones
        update last_seen at most every 10 s, so that polls do not write
        (and wake every other long-poll) on each request.
        """
        if node["first_auth"] is not None and node["last_seen"] is not None \
                and now - node["last_seen"] < 10:
            return
        with self._tx() as db:
            db.execute("UPDATE nodes SET last_seen = ?, "
                       "first_auth = coalesce(first_auth, ?) WHERE id = ?",
                       (now, now, node["id"]))

    # -- heartbeat ---------------------------------------------------------

    def record_heartbeat(self, node_id, body, now):
        """Store a heartbeat; the task ids the node should cancel."""
        with self._tx() as db:
            db.execute("INSERT INTO heartbeats (node_id, received, body) "
                       "VALUES (?, ?, ?)",
                       (node_id, now, dump_json(body).decode()))
            db.execute(
                "DELETE FROM heartbeats WHERE node_id = ? AND id <= "
                "(SELECT id FROM heartbeats WHERE node_id = ? "
                "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (node_id, node_id, HEARTBEATS_KEPT_PER_NODE))
            db.execute("UPDATE nodes SET capabilities = ?, agent_version = ? "
                       "WHERE id = ?",
                       (dump_json(body["capabilities"]).decode(),
                        body["agent_version"], node_id))
            cancel = []
            for task_id in body["tasks_running"]:
                task = db.execute("SELECT * FROM tasks WHERE id = ?",
                                  (task_id,)).fetchone()
                if task is None or task["accepted_by"] != node_id:
                    # Running something this control plane never gave
                    # it: tell it to stop.
                    cancel.append(task_id)
                elif task["state"] in LIVE:
                    db.execute("UPDATE tasks SET last_report = ?, state = "
                               "CASE state WHEN 'lost' THEN 'running' "
                               "ELSE state END WHERE id = ?", (now, task_id))
            return self._take_cancels(db, node_id) + cancel

    @staticmethod
    def _take_cancels(db, node_id):
        """Every outstanding cancel for the node, each marked as sent."""
        rows = db.execute(
            "SELECT id FROM tasks WHERE accepted_by = ? AND "
            "cancel_requested = 1 AND state IN ('accepted', 'running', "
            "'lost') ORDER BY accepted_at, id", (node_id,)).fetchall()
        db.execute("UPDATE tasks SET cancel_sent = 1 WHERE accepted_by = ? "
                   "AND cancel_requested = 1", (node_id,))
        return [row["id"] for row in rows]

    # -- long-poll ---------------------------------------------------------

    def poll(self, node_id, after_seq, now):
        """(offers, urgent): what a long-poll would answer right now.

        offers are (task row, seq) for every open offer to the node, in
        seq order.  urgent says whether there is anything the node has
        not seen: an offer never sent, an offer above after_seq (the
        node lost the answer that carried it), or a cancel never sent.
        Nothing is marked as sent here; take_answer() does that when the
        answer is really going out.
        """
        with self._tx() as db:
            self._raise_counter(db, node_id, after_seq)
            self._make_offers(db, node_id, now)
            rows = self._open_offers(db, node_id, now)
            urgent = any(row["seq"] > after_seq or not row["sent"]
                         for row in rows)
            if not urgent:
                urgent = db.execute(
                    "SELECT 1 FROM tasks WHERE accepted_by = ? AND "
                    "cancel_requested = 1 AND cancel_sent = 0 AND state IN "
                    "('accepted', 'running', 'lost') LIMIT 1",
                    (node_id,)).fetchone() is not None
            return rows, urgent

    def take_answer(self, node_id, now):
        """The open offers and the cancels for a poll answer, marked sent."""
        with self._tx() as db:
            self._make_offers(db, node_id, now)
            rows = self._open_offers(db, node_id, now)
            db.executemany("UPDATE offers SET sent = 1 WHERE task_id = ? "
                           "AND node_id = ?",
                           [(row["id"], node_id) for row in rows])
            return rows, self._take_cancels(db, node_id)

    @staticmethod
    def _raise_counter(db, node_id, after_seq):
        """Keep the node's seq counter above what the node has seen.

        A control plane restored from an old backup would otherwise hand
        out seqs the node has already used, and the node would refuse
        every new task as a replay.
        """
        db.execute("UPDATE nodes SET seq_counter = ? WHERE id = ? AND "
                   "seq_counter < ?", (after_seq, node_id, after_seq))

    @staticmethod
    def _make_offers(db, node_id, now):
        """Offer the node every queued task meant for it or for any node
        that it has not been offered yet, each with the next seq."""
        tasks = db.execute(
            "SELECT * FROM tasks t WHERE state = 'queued' AND "
            "cancel_requested = 0 AND (target = ? OR target IS NULL) AND "
            "(not_after >= ? OR deliver_expired = 1) AND NOT EXISTS "
            "(SELECT 1 FROM offers o WHERE o.task_id = t.id AND "
            "o.node_id = ?) ORDER BY created, rowid",
            (node_id, now, node_id)).fetchall()
        for task in tasks:
            if task["replay_seq"] is not None:
                seq = task["replay_seq"]
            else:
                db.execute("UPDATE nodes SET seq_counter = seq_counter + 1 "
                           "WHERE id = ?", (node_id,))
                seq = db.execute("SELECT seq_counter FROM nodes WHERE id = ?",
                                 (node_id,)).fetchone()[0]
            db.execute("INSERT INTO offers (task_id, node_id, seq, offered) "
                       "VALUES (?, ?, ?, ?)", (task["id"], node_id, seq, now))

    @staticmethod
    def _open_offers(db, node_id, now):
        return db.execute(
            "SELECT t.*, o.seq AS seq, o.sent AS sent FROM offers o "
            "JOIN tasks t ON t.id = o.task_id WHERE o.node_id = ? AND "
            "o.closed IS NULL AND t.state = 'queued' AND "
            "t.cancel_requested = 0 AND "
            "(t.not_after >= ? OR t.deliver_expired = 1) "
            "ORDER BY o.seq LIMIT ?",
            (node_id, now, TASKS_PER_POLL)).fetchall()

    # -- accept, events, logs ---------------------------------------------

    @staticmethod
    def _task_and_offer(db, node_id, task_id):
        task = db.execute("SELECT * FROM tasks WHERE id = ?",
                          (task_id,)).fetchone()
        offer = db.execute("SELECT * FROM offers WHERE task_id = ? AND "
                           "node_id = ?", (task_id, node_id)).fetchone()
        if task is None or offer is None:
            # A task never offered to this node is none of its business.
            raise ProtocolError("task_unknown",
                                "no task %s for this node" % task_id)
        return task, offer

    def accept(self, node_id, task_id, now):
        """Accept an offered task; the same node accepting again is fine."""
        with self._tx() as db:
            task, offer = self._task_and_offer(db, node_id, task_id)
            if task["accepted_by"] == node_id:
                return
            if task["accepted_by"] is not None:
                raise ProtocolError("task_taken",
                                    "another node accepted this task")
            if offer["closed"] == "rejected":
                raise ProtocolError("task_rejected",
                                    "this node rejected this task")
            if task["state"] == "cancelled" or task["cancel_requested"]:
                raise ProtocolError("task_cancelled", "task was cancelled")
            if task["not_after"] < now or task["state"] == "expired":
                if task["state"] == "queued":
                    db.execute("UPDATE tasks SET state = 'expired' "
                               "WHERE id = ?", (task_id,))
                raise ProtocolError("task_expired", "task is past not_after")
            if task["state"] != "queued":
                raise ProtocolError("task_taken",
                                    "task is %s" % task["state"])
            db.execute("UPDATE tasks SET accepted_by = ?, accepted_at = ?, "
                       "last_report = ?, state = 'accepted' WHERE id = ?",
                       (node_id, now, now, task_id))
            db.execute("UPDATE offers SET closed = CASE node_id WHEN ? "
                       "THEN 'accepted' ELSE 'taken' END WHERE task_id = ? "
                       "AND closed IS NULL", (node_id, task_id))

    def add_events(self, node_id, task_id, events, now):
        """Store new events, skip repeats: (the highest contiguous seq,
        the seqs that were already stored).

        The whole batch is checked before anything is stored, so a batch
        is taken entirely or not at all.
        """
        with self._tx() as db:
            task, offer = self._task_and_offer(db, node_id, task_id)
            if task["accepted_by"] != node_id and not all(
                    e["state"] == "rejected" for e in events):
                # A refusal is welcome from any node the task was offered
                # to, even once another node has taken it: it says why.
                raise ProtocolError(
                    "task_not_accepted", "only a rejected event may be "
                    "sent for a task this node has not accepted")
            fresh = {}
            repeated = []
            for event in events:
                row = db.execute("SELECT body FROM events WHERE task_id = ? "
                                 "AND node_id = ? AND seq = ?",
                                 (task_id, node_id, event["seq"])).fetchone()
                earlier = (json.loads(row["body"]) if row
                           else fresh.get(event["seq"]))
                if earlier is not None and earlier != event:
                    raise ProtocolError(
                        "seq_conflict", "event %d was stored with other "
                        "content" % event["seq"], seq=event["seq"])
                if earlier is None:
                    fresh[event["seq"]] = event
                else:
                    repeated.append(event["seq"])
            for seq, event in sorted(fresh.items()):
                db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                           (task_id, node_id, seq,
                            dump_json(event).decode(), now))
            self._follow_events(db, task, offer, node_id, now)
            acked = 0
            for row in db.execute("SELECT seq FROM events WHERE task_id = ? "
                                  "AND node_id = ? ORDER BY seq",
                                  (task_id, node_id)):
                if row["seq"] != acked + 1:
                    break
                acked += 1
            return acked, sorted(set(repeated))

    @staticmethod
    def _follow_events(db, task, offer, node_id, now):
        """Move the task to the state of its latest event.

        A terminal state sticks: an event that arrives late with a lower
        seq, or a running event after the end, does not reopen a task.
        """
        last = db.execute("SELECT body FROM events WHERE task_id = ? AND "
                          "node_id = ? ORDER BY seq DESC LIMIT 1",
                          (task["id"], node_id)).fetchone()
        state = json.loads(last["body"])["state"]
        if task["accepted_by"] != node_id:
            # A refusal before accepting: closes this node's offer; a task
            # meant for this node alone is then rejected for good.
            db.execute("UPDATE offers SET closed = 'rejected' WHERE "
                       "task_id = ? AND node_id = ? AND closed IS NULL",
                       (task["id"], node_id))
            if task["target"] == node_id and task["state"] == "queued":
                db.execute("UPDATE tasks SET state = 'rejected' "
                           "WHERE id = ?", (task["id"],))
            return
        if task["state"] in TERMINAL:
            db.execute("UPDATE tasks SET last_report = ? WHERE id = ?",
                       (now, task["id"]))
            return
        db.execute("UPDATE tasks SET state = ?, last_report = ? WHERE id = ?",
                   (state, now, task["id"]))

    def add_log(self, node_id, task_id, chunk, data, now):
        """Append one log chunk; the byte count now stored.

        Chunks must come in order (seq n+1 at the offset where chunk n
        ended), so the stored log is always one gapless byte stream.  A
        repeat of a stored chunk is acknowledged and not stored again.
        """
        with self._tx() as db:
            task, _ = self._task_and_offer(db, node_id, task_id)
            if task["accepted_by"] != node_id:
                raise ProtocolError("task_not_accepted",
                                    "logs only for a task this node "
                                    "accepted")
            seq, offset = chunk["seq"], chunk["offset"]
            if seq <= task["log_seq"]:
                row = db.execute("SELECT * FROM logs WHERE task_id = ? AND "
                                 "seq = ?", (task_id, seq)).fetchone()
                if (row is not None and row["offset"] == offset and
                        row["stream"] == chunk["stream"] and
                        bytes(row["data"]) == data):
                    return task["log_bytes"]
                raise ProtocolError("seq_conflict",
                                    "log chunk %d was stored with other "
                                    "content" % seq, seq=seq)
            if seq != task["log_seq"] + 1 or offset != task["log_bytes"]:
                raise ProtocolError(
                    "offset_mismatch",
                    "expected chunk %d at offset %d" % (task["log_seq"] + 1,
                                                        task["log_bytes"]),
                    expected_seq=task["log_seq"] + 1,
                    expected_offset=task["log_bytes"])
            if task["log_bytes"] + len(data) > MAX_LOG_BYTES_PER_TASK:
                raise ProtocolError("log_full", "the task's log has reached "
                                    "%d bytes" % MAX_LOG_BYTES_PER_TASK)
            db.execute("INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?)",
                       (task_id, seq, offset, chunk["stream"], data, now))
            db.execute("UPDATE tasks SET log_seq = ?, log_bytes = ?, "
                       "last_report = ? WHERE id = ?",
                       (seq, offset + len(data), now, task_id))
            return offset + len(data)

    # -- housekeeping ------------------------------------------------------

    def sweep(self, now, report_timeout_sec):
        """Expire stale queued tasks; mark silent accepted ones lost."""
        with self._tx() as db:
            db.execute("UPDATE tasks SET state = 'expired' WHERE "
                       "state = 'queued' AND not_after < ? AND "
                       "deliver_expired = 0", (now,))
            db.execute("UPDATE tasks SET state = 'lost' WHERE state IN "
                       "('accepted', 'running') AND last_report < ?",
                       (now - report_timeout_sec,))

    # -- operator side (the CLI) -------------------------------------------

    def add_task(self, kind, app, spec, target, not_after, now, test=None):
        """Queue a task; its id.  test holds the test-only switches."""
        test = test or {}
        task_id = _new_id("t_")
        with self._tx() as db:
            if target is not None and db.execute(
                    "SELECT 1 FROM nodes WHERE id = ?",
                    (target,)).fetchone() is None:
                raise NotFound("no node %s" % target)
            db.execute(
                "INSERT INTO tasks (id, kind, app, spec, target, created, "
                "not_after, state, unsigned, forge, sign_as_node, "
                "replay_seq, deliver_expired) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                (task_id, kind, app, dump_json(spec).decode(), target, now,
                 not_after, int(test.get("unsigned", False)),
                 int(test.get("forge", False)), test.get("sign_as_node"),
                 test.get("replay_seq"),
                 int(test.get("deliver_expired", False))))
        self.poke_server()
        return task_id

    def cancel_task(self, task_id):
        """Cancel a task; its state afterwards ("cancelling" while the
        node that runs it has not yet reported the end)."""
        state = self._cancel(task_id)
        self.poke_server()
        return state

    def _cancel(self, task_id):
        with self._tx() as db:
            task = db.execute("SELECT * FROM tasks WHERE id = ?",
                              (task_id,)).fetchone()
            if task is None:
                raise NotFound("no task %s" % task_id)
            if task["state"] in TERMINAL:
                return task["state"]
            if task["accepted_by"] is None:
                db.execute("UPDATE tasks SET state = 'cancelled', "
                           "cancel_requested = 1 WHERE id = ?", (task_id,))
                db.execute("UPDATE offers SET closed = 'cancelled' WHERE "
                           "task_id = ? AND closed IS NULL", (task_id,))
                return "cancelled"
            db.execute("UPDATE tasks SET cancel_requested = 1 WHERE id = ?",
                       (task_id,))
            return "cancelling"

    def set_fail_switch(self, settings):
        """Test only: leave `berth-cp fail` for the running server, which
        takes it (and removes it) when it sees the database change."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('fail_switch', "
                       "?)", (json.dumps(settings),))
        self.poke_server()

    def remove_node(self, node_id):
        """Forget a node: its credential stops working at once, so the
        node's next request gets credential_unknown and it re-enrols.
        Its tasks and history stay."""
        with self._tx() as db:
            if db.execute("DELETE FROM nodes WHERE id = ?",
                          (node_id,)).rowcount == 0:
                raise NotFound("no node %s" % node_id)
            db.execute("UPDATE offers SET closed = 'cancelled' WHERE "
                       "node_id = ? AND closed IS NULL", (node_id,))

    def nodes(self):
        with self._lock:
            return self.db.execute("SELECT * FROM nodes ORDER BY enrolled, "
                                   "id").fetchall()

    def node(self, node_id):
        with self._lock:
            return self.db.execute("SELECT * FROM nodes WHERE id = ?",
                                   (node_id,)).fetchone()

    def tasks(self, node_id=None):
        with self._lock:
            if node_id is None:
                return self.db.execute("SELECT * FROM tasks ORDER BY "
                                       "created, rowid").fetchall()
            return self.db.execute(
                "SELECT * FROM tasks WHERE target = ? OR accepted_by = ? "
                "ORDER BY created, rowid", (node_id, node_id)).fetchall()

    def task(self, task_id):
        with self._lock:
            return self.db.execute("SELECT * FROM tasks WHERE id = ?",
                                   (task_id,)).fetchone()

    def events(self, task_id):
        with self._lock:
            return self.db.execute(
                "SELECT * FROM events WHERE task_id = ? ORDER BY node_id, "
                "seq", (task_id,)).fetchall()

    def log_chunks(self, task_id):
        with self._lock:
            return self.db.execute("SELECT * FROM logs WHERE task_id = ? "
                                   "ORDER BY seq", (task_id,)).fetchall()

    def heartbeats(self, node_id, last):
        with self._lock:
            rows = self.db.execute(
                "SELECT * FROM heartbeats WHERE node_id = ? ORDER BY id DESC "
                "LIMIT ?", (node_id, last)).fetchall()
        return list(reversed(rows))
