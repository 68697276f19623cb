"""Byte-level rules of berth's native protocol (PROTOCOL.md sections 2-4).

Everything here is a pure function of its arguments, shared by the server,
the CLI and the reference node client, so that there is exactly one Python
statement of each rule the C agent must match: base64url, strict JSON
parsing, the canonical form of a task, and the string a request signature
covers.
"""

import base64
import binascii
import hashlib
import json
import math
import re

PROTOCOL_VERSION = 1
MAX_REQUEST_BYTES = 1 << 20		# request and answer bodies
MAX_LOG_CHUNK_BYTES = 64 * 1024		# decoded log data per chunk
MAX_JSON_DEPTH = 32
MAX_SAFE_INTEGER = 2 ** 53 - 1		# I-JSON (RFC 7493 section 2.2)
CLOCK_SKEW_SEC = 300

REQUEST_DOMAIN = b"berth-request-v1"
TASK_DOMAIN = b"berth-task-v1\n"

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_TASK_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class WireError(ValueError):
    """Bytes that break a rule of the protocol; str() says which."""


def b64url_encode(data):
    """base64url without padding (RFC 4648 section 5): every binary field."""
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


def b64url_decode(text, size=None, max_size=None):
    """Decode strict base64url without padding.

    Padding, the standard alphabet, whitespace and non-zero trailing bits
    are refused, so that each byte string has exactly one encoding and a
    client bug shows up here instead of as a signature mismatch later.
    """
    if not isinstance(text, str) or not _B64URL.match(text):
        raise WireError("not base64url without padding")
    if len(text) % 4 == 1:
        raise WireError("base64url of impossible length")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise WireError("bad base64url: %s" % e) from None
    if b64url_encode(data) != text:
        raise WireError("non-canonical base64url (trailing bits set)")
    if size is not None and len(data) != size:
        raise WireError("decodes to %d bytes, not %d" % (len(data), size))
    if max_size is not None and len(data) > max_size:
        raise WireError("decodes to %d bytes, more than %d"
                        % (len(data), max_size))
    return data


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise WireError("duplicate key %r" % key)
        obj[key] = value
    return obj


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise WireError("number out of range: %s" % text)
    return value


def _reject_constant(name):
    raise WireError("%s is not JSON" % name)


def _check_tree(value, depth=0):
    """Depth limit and no lone surrogates (which are not UTF-8)."""
    if depth > MAX_JSON_DEPTH:
        raise WireError("nested deeper than %d" % MAX_JSON_DEPTH)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise WireError("string holds a lone surrogate") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_tree(key, depth + 1)
            _check_tree(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_tree(item, depth + 1)


def parse_json(body):
    """Parse a request or answer body the way both ends must.

    UTF-8 only, no byte order mark, no duplicate keys, no NaN or
    Infinity, bounded depth.  jansson's JSON_REJECT_DUPLICATES gives the
    C agent the same duplicate rule.
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise WireError("body larger than %d bytes" % MAX_REQUEST_BYTES)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("body is not UTF-8") from None
    if text.startswith("\ufeff"):
        raise WireError("body starts with a byte order mark")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates,
                           parse_float=_finite_float,
                           parse_constant=_reject_constant)
    except RecursionError:
        raise WireError("nested too deeply") from None
    except json.JSONDecodeError as e:
        raise WireError("bad JSON: %s" % e) from None
    _check_tree(value)
    return value


def dump_json(value):
    """Compact UTF-8 JSON for answers and storage."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def _check_canonical_value(value, path):
    if value is None:
        raise WireError("%s: null is not allowed in a task" % path)
    if isinstance(value, bool):
        return
    if isinstance(value, float):
        raise WireError("%s: floats are not allowed in a task" % path)
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise WireError("%s: integer beyond +-(2^53-1)" % path)
        return
    if isinstance(value, str):
        if _TASK_CONTROL.search(value):
            raise WireError("%s: control characters other than tab, LF "
                            "and CR are not allowed in a task" % path)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_canonical_value(item, "%s[%d]" % (path, i))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not re.match(r"^[a-z0-9_]{1,64}$", key):
                raise WireError("%s: key %r is not [a-z0-9_]{1,64}"
                                % (path, key))
            _check_canonical_value(item, "%s.%s" % (path, key))
        return
    raise WireError("%s: %s is not JSON" % (path, type(value).__name__))


def canonical_json(value):
    """The canonical bytes of a task-shaped JSON value (PROTOCOL.md 5.3).

    RFC 8785 (JCS) restricted to what tasks may hold: objects with keys
    from [a-z0-9_], arrays, booleans, integers within +-(2^53-1), and
    strings without control characters other than tab, LF and CR.  No
    floats and no null, because their serialisation is where JSON
    libraries disagree.  Under these rules JCS, Python's json (sorted,
    compact, ensure_ascii=False) and jansson's json_dumps(JSON_COMPACT |
    JSON_SORT_KEYS) all write the same bytes: keys in byte order, only
    \\" \\\\ \\t \\n \\r escaped, everything else raw UTF-8.  (The
    control-character rule is what makes jansson agree: it writes
    \\u001F where JCS wants \\u001f.)
    """
    _check_canonical_value(value, "$")
    return json.dumps(value, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def task_signing_bytes(task):
    """What a task signature covers: the domain line, then the task
    without its "signature" member, in canonical form."""
    unsigned = {k: v for k, v in task.items() if k != "signature"}
    return TASK_DOMAIN + canonical_json(unsigned)


def request_signing_bytes(method, target, timestamp, nonce, body):
    """What a Berth-Signature covers (PROTOCOL.md 3.2).

    Six lines joined by LF, no trailing LF: the domain, the method, the
    request-target exactly as sent, the unix time, the nonce, and the
    lowercase hex SHA-256 of the body bytes.
    """
    return b"\n".join([
        REQUEST_DOMAIN,
        method.encode("ascii"),
        target.encode("ascii"),
        str(int(timestamp)).encode("ascii"),
        nonce.encode("ascii"),
        hashlib.sha256(body).hexdigest().encode("ascii"),
    ])


def format_signature_header(timestamp, nonce, signature):
    return "t=%d, n=%s, sig=%s" % (timestamp, nonce, b64url_encode(signature))


def parse_signature_header(value):
    """(t, nonce, signature bytes) from a Berth-Signature header value.

    Items are "name=value" separated by commas with optional spaces; t, n
    and sig each exactly once, nothing else.
    """
    items = {}
    for part in value.split(","):
        name, eq, item = part.strip().partition("=")
        if not eq or name not in ("t", "n", "sig") or name in items:
            raise WireError("Berth-Signature must be "
                            "\"t=<unix>, n=<nonce>, sig=<base64url>\"")
        items[name] = item
    if len(items) != 3:
        raise WireError("Berth-Signature needs t, n and sig")
    if not re.match(r"^(0|[1-9][0-9]{0,11})$", items["t"]):
        raise WireError("Berth-Signature t is not a unix time")
    if not NONCE_RE.match(items["n"]):
        raise WireError("Berth-Signature n is not 16-64 base64url characters")
    sig = b64url_decode(items["sig"], size=64)
    return int(items["t"]), items["n"], sig
