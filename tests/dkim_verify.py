"""Verifies a message's DKIM signature with dkimpy, an implementation independent of
mailroom's, using the public key record given on the command line instead of DNS.

    python3 dkim_verify.py MESSAGE.eml "v=DKIM1; k=rsa; p=..."

Prints JSON: whether it verified, the algorithm and the signed header names.
"""
import email
import json
import sys

import dkim

message = open(sys.argv[1], "rb").read()
record = sys.argv[2].encode()


def dns(name, timeout=5):
    return record


reason = None
try:
    verified = dkim.DKIM(message).verify(dnsfunc=dns)
except dkim.DKIMException as error:  # e.g. the body hash does not match
    verified, reason = False, str(error)
signature = email.message_from_bytes(message)["DKIM-Signature"] or ""
tags = {}
for part in "".join(signature.split()).split(";"):
    if "=" in part:
        key, value = part.split("=", 1)
        tags[key] = value
print(json.dumps({
    "verified": bool(verified),
    "reason": reason,
    "algorithm": tags.get("a"),
    "headers": [h.lower() for h in tags.get("h", "").split(":") if h],
    "domain": tags.get("d"),
    "selector": tags.get("s"),
}))
