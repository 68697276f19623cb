"""Ed25519 (RFC 8032, section 5.1) in pure Python.

Python's standard library has no Ed25519, and the reference control plane
must run on a bare python3, so this module implements the three operations
it needs: a public key from a 32-byte seed, signing, and verification.

Speed matters because every node request is verified and every task may be
signed on its way to the node (the agent's benchmark wants enqueue-to-Docker
under 20 ms).  A plain double-and-add costs several milliseconds per
scalar multiplication in Python; a fixed-base comb table (64 additions, no
doublings) brings that under one.  The table for the base point is built
once at import; the table for a public key is built the first time that key
verifies something and kept by its PublicKey object, so a server that keeps
one PublicKey per node pays for it once per node.

Verification follows RFC 8032 section 5.1.7 in the cofactorless form used
by ref10 and OpenSSL: S must be below L, A must decode, and [S]B - [k]A
must encode to exactly the 32 bytes of R.  Non-canonical encodings of R
therefore fail, as they do in OpenSSL.

This code is not constant-time.  It is fine for a reference server and for
tests; it is not a model for handling long-lived private keys on a shared
machine.
"""

import hashlib

__all__ = ["SigningKey", "PublicKey", "BadKey", "public_key_from_seed",
           "sign", "verify", "SEED_SIZE", "PUBLIC_KEY_SIZE", "SIGNATURE_SIZE"]

SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
D2 = 2 * D % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

IDENTITY = (0, 1, 1, 0)		# extended coordinates (X, Y, Z, T)


class BadKey(ValueError):
    """A public key that is not the encoding of a curve point."""


def _add(p, q):
    """Extended-coordinate addition for a = -1 (RFC 8032 section 5.1.4).

    The formulas are complete for edwards25519, so the identity and
    doubling need no special case.
    """
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 % P * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _madd(p, q):
    """Add a point p and an affine table entry q = (y+x, y-x, 2dxy).

    Table entries have Z = 1, which saves two multiplications per
    addition; the comb below does nothing but these additions.
    """
    x1, y1, z1, t1 = p
    ypx, ymx, t2d = q
    a = (y1 - x1) * ymx % P
    b = (y1 + x1) * ypx % P
    c = t1 * t2d % P
    d = 2 * z1
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _affine(p):
    x, y, z, _ = p
    zi = pow(z, -1, P)
    return x * zi % P, y * zi % P


def _encode(p):
    x, y = _affine(p)
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _recover_x(y, sign):
    """x from y and the sign bit (RFC 8032 section 5.1.3), or None."""
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vx2 = v * x * x % P
    if vx2 == u:
        pass
    elif vx2 == (-u) % P:
        x = x * SQRT_M1 % P
    else:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def _decode(data):
    """The point a 32-byte string encodes, or None."""
    if len(data) != 32:
        return None
    n = int.from_bytes(data, "little")
    y = n & ((1 << 255) - 1)
    x = _recover_x(y, n >> 255)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _comb_table(point):
    """64 rows of 15 affine multiples: row i holds j * 16**i * point.

    A scalar below 2**256 is then a sum of one entry per row, picked by
    its i-th hexadecimal digit.  The inversions that make entries affine
    are batched (Montgomery's trick), one inversion per row.
    """
    rows = []
    base = point
    for _ in range(64):
        row = [base]
        for _ in range(14):
            row.append(_add(row[-1], base))
        base = _add(row[-1], base)		# 16 * previous base
        prefix = []
        acc = 1
        for q in row:
            prefix.append(acc)
            acc = acc * q[2] % P
        inv = pow(acc, -1, P)
        entries = [None] * 15
        for j in range(14, -1, -1):
            x, y, z, _ = row[j]
            zi = inv * prefix[j] % P
            inv = inv * z % P
            ax, ay = x * zi % P, y * zi % P
            entries[j] = ((ay + ax) % P, (ay - ax) % P, D2 * ax % P * ay % P)
        rows.append(tuple(entries))
    return tuple(rows)


def _comb_mul(table, scalar):
    """scalar * point for the point the table was built from."""
    r = IDENTITY
    for row in table:
        digit = scalar & 15
        if digit:
            r = _madd(r, row[digit - 1])
        scalar >>= 4
    return r


_BY = 4 * pow(5, P - 2, P) % P
_B = (_recover_x(_BY, 0), _BY, 1, _recover_x(_BY, 0) * _BY % P)
_B_TABLE = _comb_table(_B)		# constant, built once at import


def _scalar(data):
    return int.from_bytes(data, "little")


def _hash_scalar(*parts):
    h = hashlib.sha512()
    for part in parts:
        h.update(part)
    return _scalar(h.digest()) % L


def _expand_seed(seed):
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_SIZE:
        raise ValueError("an Ed25519 seed is 32 bytes")
    h = hashlib.sha512(bytes(seed)).digest()
    a = _scalar(h[:32])
    a &= (1 << 254) - 8		# clear the 3 low bits and bit 255
    a |= 1 << 254
    return a, h[32:]


class PublicKey:
    """An Ed25519 public key that verifies signatures.

    Decoding happens here, so a key that is not a curve point is refused
    when it is received (BadKey), not at the first verification.
    """

    def __init__(self, data):
        data = bytes(data)
        point = _decode(data)
        if point is None:
            raise BadKey("not an Ed25519 public key")
        self.data = data
        x, y, z, t = point
        self._neg = (P - x if x else 0, y, z, P - t if t else 0)
        self._table = None

    def __bytes__(self):
        return self.data

    def __eq__(self, other):
        return isinstance(other, PublicKey) and other.data == self.data

    def __hash__(self):
        return hash(self.data)

    def has_small_order(self):
        """True for the eight points of order dividing 8.

        Verification treats them like any other key (as OpenSSL does),
        but no honest key generator produces one, and with one a
        signature proves next to nothing; enrolment refuses them.
        """
        p = self._neg
        for _ in range(3):
            p = _add(p, p)
        x, y, z, _ = p
        return x % P == 0 and (y - z) % P == 0

    def verify(self, message, signature):
        """True when signature is a valid signature of message."""
        signature = bytes(signature)
        if len(signature) != SIGNATURE_SIZE:
            return False
        r_bytes, s = signature[:32], _scalar(signature[32:])
        if s >= L:
            return False
        if self._table is None:
            self._table = _comb_table(self._neg)
        k = _hash_scalar(r_bytes, self.data, bytes(message))
        check = _add(_comb_mul(_B_TABLE, s), _comb_mul(self._table, k))
        return _encode(check) == r_bytes


class SigningKey:
    """An Ed25519 private key, kept as its 32-byte seed (RFC 8032 5.1.5)."""

    def __init__(self, seed):
        self._a, self._prefix = _expand_seed(seed)
        self.seed = bytes(seed)
        self.public = _encode(_comb_mul(_B_TABLE, self._a))

    def sign(self, message):
        """The 64-byte signature R || S of message (RFC 8032 5.1.6)."""
        message = bytes(message)
        r = _hash_scalar(self._prefix, message)
        r_bytes = _encode(_comb_mul(_B_TABLE, r))
        k = _hash_scalar(r_bytes, self.public, message)
        s = (r + k * self._a) % L
        return r_bytes + s.to_bytes(32, "little")


def public_key_from_seed(seed):
    """The 32-byte public key of a 32-byte seed."""
    return SigningKey(seed).public


def sign(seed, message):
    """Sign message with the key whose seed is given."""
    return SigningKey(seed).sign(message)


def verify(public_key, message, signature):
    """True when signature verifies; False for a bad key or signature."""
    try:
        return PublicKey(public_key).verify(message, signature)
    except BadKey:
        return False
