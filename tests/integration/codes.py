"""The codes rules issue, as include/loyalty/engine.h describes them,
computed without loyaltyd's code (for expect.py and the tests).

  codes.py SECRET SOURCE EVENT_ID RULE_ID N   prints draw N of that code
"""
import hashlib
import hmac
import sys

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
CODE_DRAWS_MAX = 16  # LY_STORE_CODE_DRAWS_MAX


def derive_code(secret, source, event_id, rule_id, n):
    """The code engine.h describes: HMAC-SHA256 under the secret of source,
    event id and rule id (each NUL-terminated), draw n and a block number
    (big-endian uint32 each), bytes mapped onto the alphabet with the
    biased top of the byte range skipped."""
    symbols = len(CODE_ALPHABET)
    limit = 256 - 256 % symbols
    out, block = "", 0
    while len(out) < CODE_LENGTH:
        msg = b"".join(x.encode() + b"\0" for x in (source, event_id, rule_id))
        msg += n.to_bytes(4, "big") + block.to_bytes(4, "big")
        for b in hmac.new(secret, msg, hashlib.sha256).digest():
            if b < limit and len(out) < CODE_LENGTH:
                out += CODE_ALPHABET[b % symbols]
        block += 1
    return out


if __name__ == "__main__":
    secret, source, event_id, rule_id, n = sys.argv[1:]
    print(derive_code(secret.encode(), source, event_id, rule_id, int(n)))
