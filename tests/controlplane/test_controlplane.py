"""Tests of the reference control plane against PROTOCOL.md.

Run:  python3 -m unittest discover -s tests/controlplane   (from the repo)

Most tests run the server in this process on 127.0.0.1 with port 0 and
talk to it with the reference node client; the CLI runs in-process too
(cli.main), so that timing measurements see only the server.  A few run
`berth-cp serve` as a real subprocess: start-up line, SIGTERM, TLS.
The Ed25519 tests use the RFC 8032 vectors and the openssl command line.
"""

import base64
import contextlib
import email.utils
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CP_DIR = os.path.join(ROOT, "contrib", "controlplane")
BERTH_CP = os.path.join(CP_DIR, "berth-cp")
sys.path.insert(0, CP_DIR)
sys.dont_write_bytecode = True		# no __pycache__ in contrib/

import cli  # noqa: E402
import ed25519  # noqa: E402
import errors  # noqa: E402
import schema  # noqa: E402
import wire  # noqa: E402
from client import (NodeClient, NodeError, check_task,  # noqa: E402
                    sample_heartbeat, sign_request)
from server import Settings, open_server  # noqa: E402

HAVE_OPENSSL = shutil.which("openssl") is not None

# RFC 8032 section 7.1: (secret seed, public key, message, signature), hex.
RFC8032_VECTORS = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f"
     "b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
     "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da08"
     "5ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
     "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18"
     "ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     # TEST 1024 (1023 bytes)
     "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e"
     "264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d879de7c00"
     "46dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d658675fc6ea5"
     "34e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3"
     "a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a57"
     "9116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b832f79ef8"
     "0560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8b"
     "bc103b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a4"
     "1da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c"
     "1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d502f1a8c"
     "6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb60"
     "92cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878"
     "e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65"
     "bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65"
     "a46128bab27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255d"
     "c51addd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
     "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb"
     "73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30"
     "c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec"
     "57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd9"
     "04b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a6504"
     "0cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e"
     "2ab47b57f7f7276cd419c17a3ca8e1b939ae49e488acba6b965610b5480109c8b17b"
     "80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
     "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb37"
     "97aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041e989f791"
     "4f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6"
     "d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fd"
     "e7cb68606937380db2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64"
     "dfac86aba41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00"
     "a0b9d0",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa"
     "5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    ("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     # TEST SHA(abc): the message is SHA-512("abc")
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a21"
     "92992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909"
     "351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]

# The worked examples of PROTOCOL.md 3.2 and 5.3.
TASK_SEED = bytes.fromhex(RFC8032_VECTORS[0][0])
NODE_SEED = bytes.fromhex(RFC8032_VECTORS[1][0])
EXAMPLE_TASK = {
    "id": "t_0123456789abcdef", "kind": "deploy", "app": "web",
    "node_id": "n_00112233aabbccdd", "seq": 42,
    "created": 1700000000, "not_after": 1700003600,
    "spec": {"image": "nginx:1.25",
             "env": [{"name": "GREETING", "value": "h\u00e9llo\n\"world\""},
                     {"name": "TOKEN", "value": "s3cret", "secret": True}],
             "ports": [{"container_port": 80, "host_port": 8080}],
             "memory_bytes": 268435456, "cpu_millis": 500, "replicas": 2}}
EXAMPLE_TASK_SIGNATURE = ("1_3oDiMvN2ZWvUShxlE1k6bpSQDK43qxPf_m_Ovt3KObiTag3"
                          "kf6TojNBKfKnCKS7LVl8mms2HV3iOXFC290BQ")
EXAMPLE_REQUEST_HEADER = (
    "t=1700000000, n=AAECAwQFBgcICQoLDA0ODw, sig=f0NYPv8X7n94Fvj2AIuSDaV6mn6"
    "GgfB5idA712KsrdxGa8tPleD5v0f-iMLhPhrcx-kvEpB1yz7_Wk5MqATwCA")


def openssl(*args, data=None):
    """Run the openssl CLI; its stdout (bytes).  Fails the test on error."""
    result = subprocess.run(("openssl",) + args, input=data,
                            capture_output=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args),
                                                  result.stderr.decode()))
    return result.stdout


def seed_to_pem(seed):
    """A PKCS#8 PEM private key for an Ed25519 seed (RFC 8410)."""
    der = bytes.fromhex("302e020100300506032b657004220420") + seed
    return ("-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n"
            % base64.b64encode(der).decode()).encode()


def self_signed(directory, name):
    """(cert, key) paths of a fresh self-signed P-256 cert for 127.0.0.1."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", key, "-out", cert)
    return cert, key


# -- Ed25519 -----------------------------------------------------------------

class TestEd25519(unittest.TestCase):

    def test_rfc8032_vectors(self):
        for seed, public, message, signature in RFC8032_VECTORS:
            seed, public = bytes.fromhex(seed), bytes.fromhex(public)
            message = bytes.fromhex(message)
            signature = bytes.fromhex(signature)
            with self.subTest(public=public.hex()[:8]):
                self.assertEqual(ed25519.public_key_from_seed(seed), public)
                self.assertEqual(ed25519.sign(seed, message), signature)
                self.assertTrue(ed25519.verify(public, message, signature))

    def test_sha_abc_vector_message(self):
        self.assertEqual(hashlib.sha512(b"abc").hexdigest(),
                         RFC8032_VECTORS[4][2])

    def test_refuses_what_is_not_a_signature(self):
        seed, public, message, signature = (
            bytes.fromhex(x) for x in RFC8032_VECTORS[2])
        self.assertFalse(ed25519.verify(public, message + b"x", signature))
        for i in (0, 31, 32, 63):
            bad = bytearray(signature)
            bad[i] ^= 0x04
            self.assertFalse(ed25519.verify(public, message, bytes(bad)), i)
        # S + L: the same point equation, but S must be below L.
        s = int.from_bytes(signature[32:], "little") + ed25519.L
        self.assertFalse(ed25519.verify(
            public, message, signature[:32] + s.to_bytes(32, "little")))
        self.assertFalse(ed25519.verify(public, message, signature[:63]))
        other = ed25519.public_key_from_seed(bytes(32))
        self.assertFalse(ed25519.verify(other, message, signature))

    def test_refuses_bad_public_keys(self):
        # y = p (not canonical) and a y with no x on the curve.
        not_canonical = (2 ** 255 - 19).to_bytes(32, "little")
        with self.assertRaises(ed25519.BadKey):
            ed25519.PublicKey(not_canonical)
        with self.assertRaises(ed25519.BadKey):
            ed25519.PublicKey((2).to_bytes(32, "little"))
        with self.assertRaises(ed25519.BadKey):
            ed25519.PublicKey(b"short")
        self.assertFalse(ed25519.verify(not_canonical, b"", bytes(64)))

    @unittest.skipUnless(HAVE_OPENSSL, "no openssl command")
    def test_openssl_signs_what_we_sign(self):
        """Keys from `openssl genpkey`: same public key, same signature,
        and openssl verifies ours."""
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(3):
                key = os.path.join(tmp, "k%d.pem" % round_)
                pub = os.path.join(tmp, "k%d.pub" % round_)
                openssl("genpkey", "-algorithm", "ed25519", "-out", key)
                der = openssl("pkey", "-in", key, "-outform", "DER")
                seed = der[-32:]
                spki = openssl("pkey", "-in", key, "-pubout", "-outform",
                               "DER")
                openssl("pkey", "-in", key, "-pubout", "-out", pub)
                self.assertEqual(ed25519.public_key_from_seed(seed),
                                 spki[-32:])
                message = os.urandom(50 + 97 * round_)
                msg_file = os.path.join(tmp, "m")
                with open(msg_file, "wb") as f:
                    f.write(message)
                theirs = openssl("pkeyutl", "-sign", "-rawin", "-inkey", key,
                                 "-in", msg_file)
                ours = ed25519.sign(seed, message)
                self.assertEqual(ours, theirs)
                self.assertTrue(ed25519.verify(spki[-32:], message, theirs))
                sig_file = os.path.join(tmp, "s")
                with open(sig_file, "wb") as f:
                    f.write(ours)
                out = openssl("pkeyutl", "-verify", "-rawin", "-pubin",
                              "-inkey", pub, "-in", msg_file, "-sigfile",
                              sig_file)
                self.assertIn(b"Signature Verified Successfully", out)

    @unittest.skipUnless(HAVE_OPENSSL, "no openssl command")
    def test_openssl_agrees_on_protocol_vectors(self):
        with tempfile.TemporaryDirectory() as tmp:
            cases = ((TASK_SEED, wire.task_signing_bytes(EXAMPLE_TASK)),
                     (NODE_SEED, _example_request_bytes()))
            for seed, message in cases:
                key = os.path.join(tmp, "k.pem")
                with open(key, "wb") as f:
                    f.write(seed_to_pem(seed))
                msg_file = os.path.join(tmp, "m")
                with open(msg_file, "wb") as f:
                    f.write(message)
                self.assertEqual(openssl("pkeyutl", "-sign", "-rawin",
                                         "-inkey", key, "-in", msg_file),
                                 ed25519.sign(seed, message))

    def test_fast_enough_for_the_dispatch_path(self):
        """Sign and verify well under the 20 ms dispatch budget."""
        key = ed25519.SigningKey(os.urandom(32))
        public = ed25519.PublicKey(key.public)
        public.verify(b"warm", key.sign(b"warm"))
        start = time.perf_counter()
        for i in range(20):
            self.assertTrue(public.verify(b"m%d" % i, key.sign(b"m%d" % i)))
        per_pair = (time.perf_counter() - start) / 20
        self.assertLess(per_pair, 0.010, "%.1f ms" % (per_pair * 1000))


def _example_request_bytes():
    return wire.request_signing_bytes(
        "POST", "/v1/nodes/n_00112233aabbccdd/tasks/t_0123456789abcdef/accept",
        1700000000, wire.b64url_encode(bytes(range(16))), b"{}")


# -- wire rules and the documented vectors -----------------------------------

class TestWire(unittest.TestCase):

    def test_base64url_is_strict(self):
        self.assertEqual(wire.b64url_encode(b"\xfb\xff"), "-_8")
        self.assertEqual(wire.b64url_decode("-_8"), b"\xfb\xff")
        for bad in ("-_8=", "+/8", "-_ 8", "-_9", "A", "é"):
            with self.assertRaises(wire.WireError, msg=bad):
                wire.b64url_decode(bad)
        with self.assertRaises(wire.WireError):
            wire.b64url_decode("AAAA", size=4)

    def test_json_parsing_is_strict(self):
        self.assertEqual(wire.parse_json(b'{"a":[1,2.5,"x"]}'),
                         {"a": [1, 2.5, "x"]})
        bad = [b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":Infinity}',
               b'{"a":1e999}', b'\xef\xbb\xbf{}', b'{"a":"\xff"}',
               b'{"a":"\\ud800"}', b"[" * 40 + b"]" * 40, b"{", b""]
        for body in bad:
            with self.assertRaises(wire.WireError, msg=body[:20]):
                wire.parse_json(body)

    def test_canonical_form(self):
        self.assertEqual(wire.canonical_json(
            {"b": [True, False, -3, {}], "a": "\t\n\r\"\\/\x7f\u00e9\U0001f600",
             "a0": [], "_": 0}),
            '{"_":0,"a":"\\t\\n\\r\\"\\\\/\x7f\u00e9\U0001f600","a0":[],'
            '"b":[true,false,-3,{}]}'.encode("utf-8"))
        for bad in ({"a": 1.5}, {"a": None}, {"A": 1}, {"a": 2 ** 53},
                    {"a-b": 1}, {"a": "\x01"}, {"a": ["\x1b[0m"]},
                    {"a": "\x00"}, {"a": "\b"}):
            with self.assertRaises(wire.WireError, msg=repr(bad)):
                wire.canonical_json(bad)

    def test_task_vector(self):
        message = wire.task_signing_bytes(EXAMPLE_TASK)
        self.assertEqual(len(message), 391)
        self.assertEqual(hashlib.sha256(message).hexdigest(),
                         "69a9bdd7a9b35bbe45fdee14cdace0a61dd942bfafec1dff6c"
                         "ecf424430d3182")
        signature = ed25519.sign(TASK_SEED, message)
        self.assertEqual(wire.b64url_encode(signature),
                         EXAMPLE_TASK_SIGNATURE)
        # Member order and the signature member do not change the bytes.
        shuffled = dict(reversed(list(EXAMPLE_TASK.items())),
                        signature=EXAMPLE_TASK_SIGNATURE)
        self.assertEqual(wire.task_signing_bytes(shuffled), message)
        self.assertIsNone(check_task(
            shuffled, "n_00112233aabbccdd",
            ed25519.public_key_from_seed(TASK_SEED), require_signed=True,
            high_seq=41, journal={}, now=1700000000))

    def test_request_vector(self):
        message = _example_request_bytes()
        self.assertEqual(message.split(b"\n")[-1].decode(),
                         hashlib.sha256(b"{}").hexdigest())
        seed = NODE_SEED
        header = wire.format_signature_header(
            1700000000, "AAECAwQFBgcICQoLDA0ODw", ed25519.sign(seed, message))
        self.assertEqual(header, EXAMPLE_REQUEST_HEADER)
        self.assertEqual(wire.parse_signature_header(
            "sig=%s,n=AAECAwQFBgcICQoLDA0ODw ,  t=1700000000"
            % header.split("sig=")[1])[0], 1700000000)
        for bad in ("t=1, n=AAECAwQFBgcICQoLDA0ODw",
                    header + ", x=1", "t=01, " + header[14:],
                    header.replace("n=AAECAwQFBgcICQoLDA0ODw", "n=short")):
            with self.assertRaises(wire.WireError, msg=bad):
                wire.parse_signature_header(bad)


class TestDocumentation(unittest.TestCase):
    """PROTOCOL.md must say what the code does."""

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ROOT, "PROTOCOL.md"), encoding="utf-8") as f:
            cls.doc = f.read()

    def test_vectors_in_the_document(self):
        doc = self.doc
        self.assertIn(EXAMPLE_TASK_SIGNATURE, doc)
        self.assertIn("Berth-Signature: " + EXAMPLE_REQUEST_HEADER, doc)
        canonical = wire.task_signing_bytes(EXAMPLE_TASK).decode("utf-8")
        self.assertIn("```\n%s\n```" % canonical, doc)
        request = _example_request_bytes().decode("ascii")
        self.assertIn("```\n%s\n```" % request, doc)
        signature = ed25519.sign(TASK_SEED,
                                 wire.task_signing_bytes(EXAMPLE_TASK))
        self.assertIn(signature.hex()[:64], doc)
        self.assertIn(signature.hex()[64:], doc)
        self.assertIn(wire.b64url_encode(
            ed25519.public_key_from_seed(TASK_SEED)), doc)
        self.assertIn(wire.b64url_encode(
            ed25519.public_key_from_seed(NODE_SEED)), doc)

    def test_error_table_matches_the_server(self):
        rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \| ([a-z-]+) \|",
                          self.doc, re.M)
        documented = {code: (int(status), action)
                      for code, status, action in rows}
        self.assertEqual(documented, errors.CODES)


# -- a server per test -------------------------------------------------------

class ServerCase(unittest.TestCase):
    """A fresh database and an in-process server on a random port."""

    settings = {}

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "cp.db")
        self.server = open_server(self.db, "127.0.0.1:0",
                                  Settings(**self.settings))
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.server.stop()
        self.thread.join(timeout=5)
        self.server.close()
        self.server.store.close()
        self.tmp.cleanup()

    def cli(self, *args):
        """(exit status, stdout) of `berth-cp --db DB ARGS`."""
        out = io.StringIO()
        with contextlib.redirect_stderr(io.StringIO()):
            status = cli.main(["--db", self.db] + list(args), out=out)
        return status, out.getvalue().strip()

    def token(self):
        status, token = self.cli("token", "create", "--name", "t")
        self.assertEqual(status, 0)
        return token

    def client(self):
        c = NodeClient(self.server.url, timeout=30)
        self.clients.append(c)
        return c

    def node(self):
        c = self.client()
        c.enrol(self.token())
        return c

    def add_task(self, *args, node=None):
        target = ["--node", node.node_id] if node else []
        status, task_id = self.cli("task", "add", *target, *args)
        self.assertEqual(status, 0, task_id)
        return task_id

    def deploy(self, node, *extra):
        return self.add_task("--kind", "deploy", "--app", "web", "--image",
                             "nginx:1.25", *extra, node=node)

    def assertRefused(self, status_code, code, fn, *args, **kw):
        with self.assertRaises(NodeError) as caught:
            fn(*args, **kw)
        self.assertEqual((caught.exception.status, caught.exception.code),
                         (status_code, code), caught.exception.error)
        return caught.exception


def event(seq, state="running", **extra):
    return dict({"seq": seq, "time": int(time.time()), "state": state},
                **extra)


class TestEnrol(ServerCase):

    def test_token_is_single_use(self):
        token = self.token()
        first = self.client()
        answer = first.enrol(token)
        self.assertTrue(answer["node_id"].startswith("n_"))
        self.assertEqual(answer["intervals"]["heartbeat_sec"], 30)
        status, key = self.cli("key", "show")
        self.assertEqual(answer["task_signing_key"], key)
        self.assertRefused(401, "token_invalid", self.client().enrol, token)
        self.assertRefused(401, "token_invalid", self.client().enrol,
                           "bet_unknown")

    def test_lost_answer_can_be_retried_until_first_use(self):
        token = self.token()
        node = self.client()
        first = node.enrol(token)
        again = node.enrol(token)		# same key: the answer was lost
        self.assertEqual(first["node_id"], again["node_id"])
        self.assertNotEqual(first["credential"], again["credential"])
        node.heartbeat()			# the new credential works ...
        node.credential = first["credential"]	# ... the old one does not
        self.assertRefused(401, "credential_unknown", node.heartbeat)
        node.credential = again["credential"]
        self.assertRefused(401, "token_invalid", node.enrol, token)

    def test_same_key_with_a_new_token_is_a_new_node(self):
        node = self.client()
        first = node.enrol(self.token())
        node.heartbeat()
        second = node.enrol(self.token())
        self.assertNotEqual(first["node_id"], second["node_id"])
        status, out = self.cli("nodes", "--json")
        self.assertEqual(len(json.loads(out)), 2)

    def test_removed_node_gets_credential_unknown_and_can_re_enrol(self):
        node = self.node()
        old_id = node.node_id
        self.assertEqual(self.cli("nodes", "--remove", old_id),
                         (0, "removed %s" % old_id))
        self.assertRefused(401, "credential_unknown", node.heartbeat)
        self.assertRefused(401, "token_invalid", node.enrol, self.token()
                           .replace("bet_", "bet_x"))
        node.enrol(self.token())
        self.assertNotEqual(node.node_id, old_id)
        node.heartbeat()
        self.assertEqual(self.cli("nodes", "--remove", old_id)[0], 1)

    def test_expired_token(self):
        self.server.store.db.execute("UPDATE tokens SET expires = 0")
        token = self.token()
        self.server.store.db.execute(
            "UPDATE tokens SET expires = 1 WHERE expires > 1")
        self.assertRefused(401, "token_invalid", self.client().enrol, token)

    def test_enrolment_is_signed_with_the_new_key(self):
        token = self.token()
        node = self.client()
        body = {"token": token, "name": "x",
                "public_key": wire.b64url_encode(node.public_key),
                "capabilities": sample_heartbeat()["capabilities"],
                "agent_version": "t"}
        status, answer, _ = node.request("POST", "/v1/enrol", body,
                                         sign=False)
        self.assertEqual((status, answer["error"]["code"]),
                         (401, "auth_required"))
        other = wire.b64url_encode(ed25519.public_key_from_seed(b"\1" * 32))
        status, answer, _ = node.request("POST", "/v1/enrol",
                                         dict(body, public_key=other))
        self.assertEqual((status, answer["error"]["code"]),
                         (401, "signature_invalid"))
        # The token was not used up by the refused attempts.
        node.enrol(token)

    def test_bad_fields(self):
        node = self.client()
        good = {"token": self.token(), "name": "x",
                "public_key": wire.b64url_encode(node.public_key),
                "capabilities": sample_heartbeat()["capabilities"],
                "agent_version": "t"}
        cases = [
            (dict(good, extra=1), "extra"),
            ({k: v for k, v in good.items() if k != "name"}, "name"),
            (dict(good, public_key=wire.b64url_encode(
                (2).to_bytes(32, "little"))), "public_key"),	# no point
            (dict(good, public_key="A" * 43), "public_key"),	# order 4
            (dict(good, name="a\nb"), "name"),
            (dict(good, capabilities=dict(good["capabilities"],
                                          cpu_count=0)),
             "capabilities.cpu_count"),
        ]
        for body, field in cases:
            status, answer, _ = node.request("POST", "/v1/enrol", body)
            self.assertEqual(status, 400, field)
            self.assertEqual(answer["error"]["code"], "invalid_field")
            self.assertEqual(answer["error"]["field"], field)


class TestRequestAuthentication(ServerCase):

    def heartbeat(self, node, **kw):
        return node.request("POST", "/v1/nodes/%s/heartbeat" % node.node_id,
                            sample_heartbeat(), **kw)

    def assertCode(self, result, status, code):
        self.assertEqual((result[0], result[1]["error"]["code"]),
                         (status, code), result[1])

    def test_refusals(self):
        node = self.node()
        self.assertEqual(self.heartbeat(node)[0], 200)
        self.assertCode(self.heartbeat(node, sign=False), 401,
                        "auth_required")
        self.assertCode(self.heartbeat(node, auth=False), 401,
                        "auth_required")
        self.assertCode(self.heartbeat(node, headers={
            "Berth-Signature": "t=1, n=x, sig=y"}), 401, "auth_required")
        real_seed, node.seed = node.seed, os.urandom(32)
        self.assertCode(self.heartbeat(node), 401, "signature_invalid")
        node.seed = real_seed
        skewed = self.heartbeat(node, timestamp=int(time.time()) - 1000)
        self.assertCode(skewed, 401, "clock_skew")
        self.assertLessEqual(abs(skewed[1]["error"]["server_time"] -
                                 time.time()), 5)
        real, node.credential = node.credential, "bnc_nobody"
        self.assertCode(self.heartbeat(node), 401, "credential_unknown")
        node.credential = real
        self.assertEqual(self.heartbeat(node)[0], 200)

    def test_replayed_signature(self):
        node = self.node()
        stamp, nonce = int(time.time()), "n" * 22
        self.assertEqual(self.heartbeat(node, timestamp=stamp,
                                        nonce=nonce)[0], 200)
        self.assertCode(self.heartbeat(node, timestamp=stamp, nonce=nonce),
                        401, "replayed")

    def test_signature_covers_body_path_and_query(self):
        node = self.node()
        path = "/v1/nodes/%s/heartbeat" % node.node_id
        signed_body = wire.dump_json(sample_heartbeat())
        header = {"Berth-Signature": sign_request(
            node.seed, "POST", path, signed_body)}
        other_body = wire.dump_json(sample_heartbeat(["t_x"]))
        self.assertCode(node.request("POST", path, raw=other_body,
                                     sign=False, headers=header),
                        401, "signature_invalid")
        poll = "/v1/nodes/%s/tasks?wait=0&after_seq=0" % node.node_id
        header = {"Berth-Signature": sign_request(
            node.seed, "GET", poll, b"")}
        self.assertCode(node.request(
            "GET", poll.replace("after_seq=0", "after_seq=1"), sign=False,
            headers=header), 401, "signature_invalid")

    def test_credential_of_another_node(self):
        a, b = self.node(), self.node()
        result = a.request("POST", "/v1/nodes/%s/heartbeat" % b.node_id,
                           sample_heartbeat())
        self.assertCode(result, 403, "node_mismatch")


class TestHttpFraming(ServerCase):

    def raw(self, request):
        """The status line and JSON body of a hand-written request."""
        with socket.create_connection(self.server.server_address[:2],
                                      timeout=10) as s:
            s.sendall(request)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return head.split(b"\r\n")[0].decode(), json.loads(body)

    def test_errors_are_json_with_the_documented_status(self):
        node = self.node()
        base = "/v1/nodes/%s" % node.node_id
        cases = [
            (("GET", "/v1/nope"), 404, "not_found"),
            (("GET", base + "/heartbeat"), 405, "method_not_allowed"),
            (("POST", base + "/tasks/t_x/accept", {}), 404, "task_unknown"),
            (("GET", base + "/tasks?wait=61"), 400, "invalid_field"),
            (("GET", base + "/tasks?wait=1&wait=2"), 400, "invalid_field"),
            (("GET", base + "/tasks?bogus=1"), 400, "invalid_field"),
            (("POST", base + "/heartbeat?x=1", sample_heartbeat()), 400,
             "bad_request"),
        ]
        for (method, path, *body), status, code in cases:
            result = node.request(method, path, *body)
            self.assertEqual((result[0], result[1]["error"]["code"]),
                             (status, code), path)
        status, answer, headers = node.request("GET", base + "/heartbeat")
        self.assertEqual(headers["Allow"], "POST")
        status, answer, _ = node.request(
            "POST", base + "/heartbeat", raw=b'{"time": 1, "time": 2}')
        self.assertEqual((status, answer["error"]["code"]),
                         (400, "bad_json"))
        status, answer, _ = node.request(
            "POST", base + "/heartbeat", sample_heartbeat(),
            headers={"Content-Type": "text/plain"})
        self.assertEqual((status, answer["error"]["code"]),
                         (415, "unsupported_media_type"))

    def test_length_rules(self):
        line, answer = self.raw(b"POST /v1/enrol HTTP/1.1\r\nHost: x\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.assertIn(" 411 ", line)
        self.assertEqual(answer["error"]["code"], "length_required")
        line, answer = self.raw(b"POST /v1/enrol HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 2000000\r\n\r\n")
        self.assertIn(" 413 ", line)
        self.assertEqual(answer["error"]["code"], "too_large")
        line, answer = self.raw(b"BREW /v1/enrol HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n")
        self.assertEqual(answer["error"]["code"], "method_not_allowed")


class TestFailNext(ServerCase):
    settings = {"fail_next": 2}

    def test_answers_503_with_retry_after(self):
        node = self.client()
        for _ in range(2):
            status, answer, headers = node.request("POST", "/v1/enrol", {})
            self.assertEqual((status, answer["error"]["code"]),
                             (503, "unavailable"))
            self.assertEqual(headers["Retry-After"], "1")
        node.enrol(self.token())


class TestFailSwitch(ServerCase):
    """`berth-cp fail` while serving, and what the failures look like."""

    def arm(self, *args):
        self.assertEqual(self.cli("fail", *args)[0], 0)
        # The server takes it from the database when it sees the change.
        deadline = time.monotonic() + 5
        while self.server.fail_switch._state["next"] == 0:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)

    def test_status_and_delta_seconds(self):
        node = self.node()
        self.arm("2", "--status", "429", "--retry-after", "7")
        for _ in range(2):
            status, answer, headers = node.request(
                "POST", "/v1/nodes/%s/heartbeat" % node.node_id,
                sample_heartbeat())
            self.assertEqual((status, answer["error"]["code"]),
                             (429, "rate_limited"))
            self.assertEqual(headers["Retry-After"], "7")
        node.heartbeat()

    def test_http_date_and_only(self):
        node = self.node()
        self.arm("1", "--retry-after", "30", "--http-date", "--only",
                 "heartbeat")
        # Other endpoints go through untouched.
        status, _, _ = node.request(
            "GET", "/v1/nodes/%s/tasks?wait=0" % node.node_id)
        self.assertEqual(status, 200)
        before = time.time()
        status, answer, headers = node.request(
            "POST", "/v1/nodes/%s/heartbeat" % node.node_id,
            sample_heartbeat())
        self.assertEqual((status, answer["error"]["code"]),
                         (503, "unavailable"))
        when = email.utils.parsedate_to_datetime(
            headers["Retry-After"]).timestamp()
        self.assertAlmostEqual(when - before, 30, delta=2)
        node.heartbeat()

    def test_no_retry_after(self):
        node = self.node()
        self.arm("1", "--status", "500", "--retry-after", "none")
        status, _, headers = node.request(
            "POST", "/v1/nodes/%s/heartbeat" % node.node_id,
            sample_heartbeat())
        self.assertEqual(status, 500)
        self.assertNotIn("Retry-After", headers)


class TestClockOffset(ServerCase):
    """A server whose clock is off tells it consistently."""
    settings = {"clock_offset_sec": 200}

    def test_date_and_server_time(self):
        node = self.node()
        status, answer, headers = node.request(
            "POST", "/v1/nodes/%s/heartbeat" % node.node_id,
            sample_heartbeat())
        self.assertEqual(status, 200)
        self.assertAlmostEqual(answer["server_time"] - time.time(), 200,
                               delta=3)
        date = email.utils.parsedate_to_datetime(headers["Date"])
        self.assertAlmostEqual(date.timestamp() - time.time(), 200,
                               delta=3)


class TestHeartbeat(ServerCase):

    def test_stored_and_listed(self):
        node = self.node()
        body = sample_heartbeat()
        body["metrics"]["cpu_percent"] = 42.25
        answer = node.heartbeat(body)
        self.assertEqual(answer["cancel"], [])
        self.assertIn("intervals", answer)
        status, out = self.cli("heartbeats", node.node_id, "--last", "1",
                               "--json")
        self.assertEqual(status, 0)
        stored = json.loads(out)
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored[0]["body"], body)
        status, text = self.cli("heartbeats", node.node_id)
        self.assertIn("cpu  42.2%", text)

    def test_fields_are_checked(self):
        node = self.node()
        cases = [
            (("metrics", "cpu_percent"), 101),
            (("metrics", "capacity", "containers_left"), -1),
            (("capabilities", "gpus"), [{"name": "x"}]),
            (("binary_sha256",), "AB" * 32),
            (("audit_head", "records"), "1"),
            (("tasks_running",), ["t_a", "t_a"]),
        ]
        for path, value in cases:
            body = sample_heartbeat()
            target = body
            for name in path[:-1]:
                target = target[name]
            target[path[-1]] = value
            error = self.assertRefused(400, "invalid_field", node.heartbeat,
                                       body)
            self.assertTrue(error.error["field"].startswith(
                ".".join(path)), error.error)

    def test_unknown_running_task_is_cancelled(self):
        node = self.node()
        self.assertEqual(node.heartbeat(tasks_running=["t_stray"])["cancel"],
                         ["t_stray"])


class TestLongPoll(ServerCase):

    def test_task_added_during_the_wait_arrives_within_100ms(self):
        node = self.node()
        result = {}

        def poll():
            result["answer"] = node.poll(wait=10)
            result["at"] = time.monotonic()

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.3)
        self.assertTrue(poller.is_alive(), "the poll did not wait")
        task_id = self.deploy(node)
        added = time.monotonic()
        poller.join(timeout=5)
        latency = result["at"] - added
        self.assertEqual([t["id"] for t in result["answer"]["tasks"]],
                         [task_id])
        self.assertLess(latency, 0.100, "%.1f ms" % (latency * 1000))

    def test_empty_answer_after_wait(self):
        node = self.node()
        start = time.monotonic()
        answer = node.poll(wait=1)
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        self.assertEqual((answer["tasks"], answer["cancel"]), ([], []))

    def test_seen_offers_repeat_without_waking_and_lost_ones_wake(self):
        node = self.node()
        first = self.deploy(node)
        second = self.deploy(node)
        tasks = node.poll()["tasks"]
        self.assertEqual([(t["id"], t["seq"]) for t in tasks],
                         [(first, 1), (second, 2)])
        start = time.monotonic()
        again = node.poll(wait=1, after_seq=2)	# both seen, undecided
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        self.assertEqual(len(again["tasks"]), 2)
        start = time.monotonic()
        lost = node.poll(wait=5, after_seq=1)	# the node never saw seq 2
        self.assertLess(time.monotonic() - start, 0.5)
        self.assertEqual(len(lost["tasks"]), 2)

    def test_seq_counter_stays_above_after_seq(self):
        node = self.node()
        node.poll(after_seq=40)		# e.g. a control plane restored
        self.deploy(node)
        self.assertEqual(node.poll()["tasks"][0]["seq"], 41)

    def test_a_task_goes_only_to_its_node(self):
        a, b = self.node(), self.node()
        self.deploy(a)
        self.assertEqual(b.poll()["tasks"], [])
        self.assertEqual(len(a.poll()["tasks"]), 1)


class TestAccept(ServerCase):

    def test_idempotent(self):
        node = self.node()
        task_id = self.deploy(node)
        node.poll()
        self.assertEqual(node.accept(task_id), {"state": "accepted"})
        self.assertEqual(node.accept(task_id), {"state": "accepted"})
        self.assertEqual(node.poll()["tasks"], [])
        status, out = self.cli("task", "list", "--json")
        self.assertEqual(json.loads(out)[0]["state"], "accepted")

    def test_pool_task_goes_to_the_first_accept(self):
        a, b = self.node(), self.node()
        task_id = self.add_task("--any", "--kind", "run", "--app", "ci",
                                "--image", "busybox", "--cmd", "true")
        ta, tb = a.poll()["tasks"][0], b.poll()["tasks"][0]
        self.assertEqual((ta["id"], tb["id"]), (task_id, task_id))
        self.assertEqual((ta["node_id"], tb["node_id"]),
                         (a.node_id, b.node_id))
        a.accept(task_id)
        self.assertRefused(409, "task_taken", b.accept, task_id)
        self.assertEqual(b.poll()["tasks"], [])
        a.accept(task_id)
        # B's refusal (sent late) is still taken, as information.
        self.assertEqual(b.events(task_id, [event(1, "rejected",
                                                  stage="admission")]),
                         {"acked_seq": 1})
        self.assertRefused(409, "task_not_accepted", b.events, task_id,
                           [event(2)])
        self.assertEqual(self.server.store.task(task_id)["state"],
                         "accepted")

    def test_not_offered_cancelled_expired_rejected(self):
        a, b = self.node(), self.node()
        mine = self.deploy(a)
        a.poll()
        self.assertRefused(404, "task_unknown", b.accept, mine)
        cancelled = self.deploy(a)
        a.poll()
        self.assertEqual(self.cli("task", "cancel", cancelled),
                         (0, "cancelled"))
        self.assertRefused(410, "task_cancelled", a.accept, cancelled)
        expired = self.deploy(a, "--expired")
        a.poll()
        self.assertRefused(410, "task_expired", a.accept, expired)
        refused = self.deploy(a)
        a.poll()
        a.events(refused, [event(1, "rejected", stage="admission",
                                 message="no room")])
        self.assertRefused(409, "task_rejected", a.accept, refused)
        status, out = self.cli("task", "list", "--json")
        states = {t["id"]: t["state"] for t in json.loads(out)}
        self.assertEqual(states[refused], "rejected")

    def test_silent_task_becomes_lost_then_follows_reports(self):
        node = self.node()
        task_id = self.deploy(node)
        node.poll()
        node.accept(task_id)
        self.server.store.sweep(int(time.time()) + 1000, 300)
        self.assertEqual(self.server.store.task(task_id)["state"], "lost")
        node.heartbeat(tasks_running=[task_id])
        self.assertEqual(self.server.store.task(task_id)["state"], "running")
        self.server.store.sweep(int(time.time()) + 1000, 300)
        node.events(task_id, [event(1, "succeeded")])
        self.assertEqual(self.server.store.task(task_id)["state"],
                         "succeeded")


class TestEvents(ServerCase):

    def accepted(self):
        node = self.node()
        task_id = self.deploy(node)
        node.poll()
        node.accept(task_id)
        return node, task_id

    def test_deduplicated_by_seq(self):
        node, task_id = self.accepted()
        one, two = event(1, stage="pull"), event(2, stage="create")
        self.assertEqual(node.events(task_id, [one]), {"acked_seq": 1})
        self.assertEqual(node.events(task_id, [one, two]), {"acked_seq": 2})
        self.assertEqual(node.events(task_id, [two, two]), {"acked_seq": 2})
        status, out = self.cli("events", task_id, "--json")
        self.assertEqual([e["seq"] for e in json.loads(out)], [1, 2])
        self.assertRefused(409, "seq_conflict", node.events, task_id,
                           [dict(two, message="different")])

    def test_gaps_are_stored_and_acked_contiguously(self):
        node, task_id = self.accepted()
        self.assertEqual(node.events(task_id, [event(1), event(3)]),
                         {"acked_seq": 1})
        self.assertEqual(node.events(task_id, [event(2)]), {"acked_seq": 3})

    def test_final_state_sticks(self):
        node, task_id = self.accepted()
        node.events(task_id, [event(1), event(3, "failed", stage="health",
                                              message="unhealthy")])
        node.events(task_id, [event(2, stage="start")])
        self.assertEqual(self.server.store.task(task_id)["state"], "failed")
        status, text = self.cli("events", task_id)
        self.assertIn("unhealthy", text)

    def test_only_a_refusal_before_accept(self):
        node = self.node()
        task_id = self.deploy(node)
        node.poll()
        self.assertRefused(409, "task_not_accepted", node.events, task_id,
                           [event(1)])
        self.assertRefused(409, "task_not_accepted", node.log, task_id, 1, 0,
                           b"x")
        node.events(task_id, [event(1, "rejected", stage="verify")])

    def test_fields_are_checked(self):
        node, task_id = self.accepted()
        for bad, field in (([], "events"),
                           ([dict(event(1), state="done")],
                            "events[0].state"),
                           ([dict(event(1), exit_code=1.5)],
                            "events[0].exit_code"),
                           ([event(0)], "events[0].seq")):
            error = self.assertRefused(400, "invalid_field", node.events,
                                       task_id, bad)
            self.assertEqual(error.error["field"], field)


class TestLogs(ServerCase):

    def test_reassembled_exactly_once_with_offset_checks(self):
        node = self.node()
        task_id = self.deploy(node)
        node.poll()
        node.accept(task_id)
        chunks = [b"building\n", os.urandom(65536), b"\x00\xff tail"]
        offset = 0
        for seq, data in enumerate(chunks, 1):
            stream = "build" if seq == 1 else "stdout"
            answer = node.log(task_id, seq, offset, data, stream)
            offset += len(data)
            self.assertEqual(answer, {"acked_offset": offset})
        # A repeat (lost answer) is acknowledged and not stored twice.
        self.assertEqual(node.log(task_id, 2, 9, chunks[1]),
                         {"acked_offset": offset})
        error = self.assertRefused(409, "offset_mismatch", node.log,
                                   task_id, 4, offset + 1, b"gap")
        self.assertEqual((error.error["expected_seq"],
                          error.error["expected_offset"]), (4, offset))
        self.assertRefused(409, "offset_mismatch", node.log, task_id, 5,
                           offset, b"skipped a seq")
        self.assertRefused(409, "seq_conflict", node.log, task_id, 3,
                           offset - len(chunks[2]), b"other bytes")
        self.assertRefused(400, "invalid_field", node.log, task_id, 4,
                           offset, os.urandom(65537))
        out = io.BytesIO()
        text = io.TextIOWrapper(out, write_through=True)
        status = cli.main(["--db", self.db, "logs", task_id], out=text)
        text.detach()
        self.assertEqual(status, 0)
        self.assertEqual(out.getvalue(), b"".join(chunks))
        self.assertEqual(self.cli("logs", task_id, "--stream", "build"),
                         (0, "building"))


class TestCancel(ServerCase):

    def test_delivered_on_heartbeat_and_poll_until_final(self):
        node = self.node()
        task_id = self.deploy(node)
        node.poll()
        node.accept(task_id)
        result = {}
        poller = threading.Thread(target=lambda: result.update(
            answer=node_b.poll(wait=10, after_seq=1), at=time.monotonic()))
        node_b = NodeClient(self.server.url)		# same node, own socket
        self.clients.append(node_b)
        node_b.seed, node_b.node_id = node.seed, node.node_id
        node_b.credential = node.credential
        poller.start()
        time.sleep(0.3)
        self.assertEqual(self.cli("task", "cancel", task_id),
                         (0, "cancelling"))
        cancelled_at = time.monotonic()
        poller.join(timeout=5)
        self.assertEqual(result["answer"]["cancel"], [task_id])
        self.assertLess(result["at"] - cancelled_at, 0.1)
        self.assertEqual(node.heartbeat(tasks_running=[task_id])["cancel"],
                         [task_id])
        node.events(task_id, [event(1, "cancelled", stage="stop")])
        self.assertEqual(node.heartbeat()["cancel"], [])
        self.assertEqual(node.poll()["cancel"], [])
        self.assertEqual(self.server.store.task(task_id)["state"],
                         "cancelled")
        self.assertEqual(self.cli("task", "cancel", task_id),
                         (0, "cancelled"))


class TestTaskSigning(ServerCase):
    settings = {"sign_tasks": True}

    def deliver(self, *extra):
        node = self.node()
        task_id = self.deploy(node, *extra)
        tasks = node.poll()["tasks"]
        self.assertEqual([t["id"] for t in tasks], [task_id])
        return node, tasks[0]

    def check(self, node, task, high_seq=0):
        return check_task(task, node.node_id, node.task_key,
                          require_signed=node.tasks_signed,
                          high_seq=high_seq, journal={})

    def test_signed_task_verifies(self):
        node, task = self.deliver("--port", "127.0.0.1:8080:80",
                                  "--env", "A=1", "--secret-env", "B=2",
                                  "--memory", "256m", "--cpus", "0.5",
                                  "--health", "http:80:/healthz")
        self.assertTrue(node.tasks_signed)
        self.assertIsNone(self.check(node, task))
        self.assertEqual(task["spec"]["cpu_millis"], 500)
        self.assertEqual(task["spec"]["memory_bytes"], 256 << 20)
        # Any change to a signed field breaks it.
        for name, value in (("seq", task["seq"] + 1),
                            ("node_id", "n_other"),
                            ("not_after", task["not_after"] + 1)):
            self.assertEqual(self.check(node, dict(task, **{name: value})),
                             "signature: does not verify", name)

    def test_test_switches_are_refused_by_a_careful_node(self):
        cases = [
            (("--unsigned",), "signature: missing"),
            (("--forge",), "signature: does not verify"),
            (("--sign-as-node", "n_someone_else"), "node: for n_someone_else"),
            (("--expired",), "expired"),
        ]
        for extra, reason in cases:
            node, task = self.deliver(*extra)
            self.assertEqual(self.check(node, task), reason, extra)
            if extra != ("--forge",) and extra != ("--unsigned",):
                self.assertIn("signature", task)
        node, task = self.deliver()
        self.assertIsNone(self.check(node, task))
        replay = self.deploy(node, "--replay", str(task["seq"]))
        replayed = [t for t in node.poll(after_seq=task["seq"])["tasks"]
                    if t["id"] == replay][0]
        self.assertEqual(replayed["seq"], task["seq"])
        self.assertTrue(self.check(node, replayed,
                                   high_seq=task["seq"]).startswith("replay"))
        # A redelivery of a journalled task is not a replay.
        self.assertIsNone(check_task(
            task, node.node_id, node.task_key, require_signed=True,
            high_seq=task["seq"], journal={task["id"]: task["seq"]}))

    def test_every_delivered_task_fits_the_schema(self):
        node = self.node()
        self.add_task("--kind", "run", "--app", "job", "--image", "busybox",
                      "--timeout", "60", "--workdir", "/tmp", "--cmd", "sh",
                      "-c", "echo hi", node=node)
        self.add_task("--kind", "deploy", "--app", "site", "--repo",
                      "https://git.example/site.git", "--commit", "a" * 40,
                      "--dockerfile", "docker/Dockerfile", "--replicas", "2",
                      node=node)
        self.add_task("--kind", "logs", "--app", "site", "--follow",
                      "--tail", "100", node=node)
        self.add_task("--kind", "scale", "--app", "site", "--replicas", "3",
                      node=node)
        self.add_task("--kind", "stop", "--app", "site", "--grace", "5",
                      node=node)
        tasks = node.poll()["tasks"]
        self.assertEqual(len(tasks), 5)
        for task in tasks:
            schema.check(schema.TASK, task)
            self.assertIsNone(self.check(node, task), task["kind"])
        self.assertEqual(tasks[0]["spec"]["cmd"], ["sh", "-c", "echo hi"])


class TestUnsignedServer(ServerCase):

    def test_tasks_unsigned_unless_forged(self):
        node = self.node()
        self.assertFalse(node.tasks_signed)
        self.deploy(node)
        self.deploy(node, "--forge")
        plain, forged = node.poll()["tasks"]
        self.assertNotIn("signature", plain)
        self.assertIsNone(check_task(plain, node.node_id, node.task_key,
                                     require_signed=False, high_seq=0,
                                     journal={}))
        self.assertEqual(check_task(forged, node.node_id, node.task_key,
                                    require_signed=False, high_seq=1,
                                    journal={}),
                         "signature: does not verify")


class TestCommandLine(ServerCase):

    def test_task_add_checks_its_arguments(self):
        node = self.node()
        bad = [
            ("--kind", "deploy", "--app", "web"),			# no source
            ("--kind", "deploy", "--app", "Web", "--image", "x"),
            ("--kind", "deploy", "--app", "w", "--image", "x", "--repo",
             "https://g/x", "--commit", "a" * 40),
            ("--kind", "run", "--app", "j", "--image", "x"),	# no cmd
            ("--kind", "deploy", "--app", "w", "--image", "x",
             "--env", "A=1", "--env", "A=2"),
            ("--kind", "scale", "--app", "w"),
            ("--kind", "deploy", "--app", "w", "--image", "x",
             "--spec-json", "[1]"),
            ("--kind", "deploy", "--app", "w", "--image", "x",
             "--env", "A=\x1b[1m"),
            ("--kind", "start", "--app", "w", "--unchecked",
             "--spec-json", '{"x": 1.5}'),
        ]
        for args in bad:
            status, _ = self.cli("task", "add", "--node", node.node_id,
                                 *args)
            self.assertEqual(status, 2, args)
        self.assertEqual(self.cli("task", "add", "--node", "n_none",
                                  "--kind", "start", "--app", "w")[0], 1)
        status, _ = self.cli("task", "add", "--node", node.node_id, "--kind",
                             "start", "--app", "w", "--spec-json",
                             '{"surprise": true}', "--unchecked")
        self.assertEqual(status, 0)
        task = node.poll()["tasks"][0]
        self.assertTrue(check_task(task, node.node_id, node.task_key,
                                   require_signed=False, high_seq=0,
                                   journal={}).startswith("malformed"))

    def test_listings(self):
        node = self.node()
        task_id = self.deploy(node)
        status, out = self.cli("task", "list")
        self.assertIn(task_id, out)
        status, out = self.cli("task", "list", "--node", node.node_id,
                               "--json")
        self.assertEqual(json.loads(out)[0]["spec"]["image"], "nginx:1.25")
        status, out = self.cli("nodes")
        self.assertIn(node.node_id, out)
        self.assertEqual(self.cli("events", "t_missing")[0], 1)
        self.assertEqual(self.cli("heartbeats", "n_missing")[0], 1)
        self.assertEqual(self.cli("task", "cancel", "t_missing")[0], 1)
        self.assertEqual(oct(os.stat(self.db).st_mode & 0o777), "0o600")


# -- the real `berth-cp serve` ------------------------------------------------

class ServeProcess:
    """`berth-cp serve` as a child process; url once it is listening."""

    def __init__(self, db, *args):
        self.proc = subprocess.Popen(
            [sys.executable, BERTH_CP, "--db", db, "serve", "--listen",
             "127.0.0.1:0", "--quiet"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        match = re.fullmatch(r"listening on (https?://127\.0\.0\.1:\d+)\n",
                             line)
        if not match:
            self.proc.kill()
            raise AssertionError("serve said %r; stderr %s" %
                                 (line, self.proc.stderr.read()))
        self.url = match.group(1)

    def stop(self):
        """SIGTERM; the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


class TestServeProcess(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "cp.db")

    def tearDown(self):
        self.tmp.cleanup()

    def cli(self, *args):
        out = io.StringIO()
        self.assertEqual(cli.main(["--db", self.db] + list(args), out=out), 0)
        return out.getvalue().strip()

    def test_serve_and_stop_on_sigterm(self):
        server = ServeProcess(self.db, "--heartbeat-sec", "7",
                              "--poll-timeout-sec", "20")
        try:
            node = NodeClient(server.url)
            answer = node.enrol(self.cli("token", "create"))
            self.assertEqual(answer["intervals"]["heartbeat_sec"], 7)
            self.assertEqual(answer["intervals"]["poll_timeout_sec"], 20)
            # A long-poll in progress must not hold up the shutdown.
            poller = threading.Thread(target=lambda: node.poll(wait=30),
                                      daemon=True)
            poller.start()
            time.sleep(0.3)
        finally:
            started = time.monotonic()
            self.assertEqual(server.stop(), 0)
        self.assertLess(time.monotonic() - started, 5)
        node.close()

    @unittest.skipUnless(HAVE_OPENSSL, "no openssl command")
    def test_tls(self):
        cert, key = self_signed(self.tmp.name, "server")
        other_ca, _ = self_signed(self.tmp.name, "other")
        server = ServeProcess(self.db, "--tls-cert", cert, "--tls-key", key)
        try:
            self.assertTrue(server.url.startswith("https://"))
            trusting = ssl.create_default_context(cafile=cert)
            node = NodeClient(server.url, ssl_context=trusting)
            node.enrol(self.cli("token", "create"))
            node.heartbeat()
            node.close()
            wrong = ssl.create_default_context(cafile=other_ca)
            stranger = NodeClient(server.url, ssl_context=wrong)
            with self.assertRaises(ssl.SSLCertVerificationError):
                stranger.enrol(self.cli("token", "create"))
            # Plain HTTP to the TLS port gets nowhere either.
            plain = NodeClient(server.url.replace("https", "http"))
            with self.assertRaises((OSError, Exception)):
                plain.enrol(self.cli("token", "create"))
        finally:
            self.assertEqual(server.stop(), 0)

    def test_stale_wake_socket_is_replaced(self):
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stale.bind(self.db + ".wake")		# as if a server had died
        stale.close()
        server = ServeProcess(self.db)
        try:
            node = NodeClient(server.url)
            node.enrol(self.cli("token", "create"))
            result = {}
            poller = threading.Thread(target=lambda: result.update(
                answer=node.poll(wait=10), at=time.monotonic()))
            poller.start()
            time.sleep(0.3)
            self.cli("task", "add", "--node", node.node_id, "--kind",
                     "start", "--app", "web")
            added = time.monotonic()
            poller.join(timeout=10)
            self.assertEqual(len(result["answer"]["tasks"]), 1)
            self.assertLess(result["at"] - added, 0.1)
            node.close()
        finally:
            self.assertEqual(server.stop(), 0)
        self.assertFalse(os.path.exists(self.db + ".wake"))

    def test_refuses_a_database_of_another_schema(self):
        self.cli("key", "show")
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            db.execute("UPDATE meta SET value = '99' WHERE "
                       "key = 'schema_version'")
            db.commit()
        with contextlib.redirect_stderr(io.StringIO()) as err:
            status = cli.main(["--db", self.db, "nodes"], out=io.StringIO())
        self.assertEqual(status, 1)
        self.assertIn("schema 99", err.getvalue())

    def test_usage_errors(self):
        result = subprocess.run(
            [sys.executable, BERTH_CP, "--db", self.db, "serve", "--listen",
             "nonsense"], capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--listen", result.stderr)
        result = subprocess.run([sys.executable, BERTH_CP, "nodes"],
                                capture_output=True, text=True, timeout=30,
                                env=dict(os.environ, BERTH_CP_DB=""))
        self.assertEqual(result.returncode, 2)


if __name__ == "__main__":
    unittest.main()
