"""The error codes of PROTOCOL.md section 2.4, as one table.

Every refusal the server sends is a ProtocolError raised somewhere below
the HTTP handler and turned into {"error": {"code", "message", ...}} in
one place, so the status that goes with a code cannot drift between
handlers.  The table is also what the documentation's table is checked
against in the tests.
"""

# code -> (HTTP status, what the node does about it)
CODES = {
    "bad_request":            (400, "final"),
    "bad_json":               (400, "final"),
    "invalid_field":          (400, "final"),
    "token_invalid":          (401, "final"),
    "auth_required":          (401, "final"),
    "credential_unknown":     (401, "re-enrol"),
    "signature_invalid":      (401, "final"),
    "clock_skew":             (401, "retry"),
    "replayed":               (401, "retry"),
    "node_mismatch":          (403, "final"),
    "not_found":              (404, "final"),
    "task_unknown":           (404, "final"),
    "method_not_allowed":     (405, "final"),
    "task_taken":             (409, "final"),
    "task_rejected":          (409, "final"),
    "task_not_accepted":      (409, "final"),
    "seq_conflict":           (409, "final"),
    "offset_mismatch":        (409, "resync"),
    "log_full":               (409, "final"),
    "task_cancelled":         (410, "final"),
    "task_expired":           (410, "final"),
    "length_required":        (411, "final"),
    "too_large":              (413, "final"),
    "unsupported_media_type": (415, "final"),
    "rate_limited":           (429, "retry"),
    "internal":               (500, "retry"),
    "unavailable":            (503, "retry"),
}


class ProtocolError(Exception):
    """A refusal with a code from CODES and optional extra members.

    extra goes into the error object next to code and message (for
    example field, expected_offset, server_time); retry_after becomes a
    Retry-After header.
    """

    def __init__(self, code, message, retry_after=None, **extra):
        if code not in CODES:
            raise ValueError("unknown error code %r" % code)
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.status = CODES[code][0]
        self.message = message
        self.retry_after = retry_after
        self.extra = extra

    def body(self):
        error = {"code": self.code, "message": self.message}
        error.update(self.extra)
        return {"error": error}
