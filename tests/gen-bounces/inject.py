#!/usr/bin/env python3
"""Hands one newsletter-like message to a sending MTA over SMTP on 127.0.0.1.

usage: inject.py PORT RECIPIENT MESSAGE_ID [--subject TEXT] [--pad BYTES]

The envelope sender is the VERP address `bounces+verptoken@newsletter.example.org`:
the literal token `verptoken` is replaced by a real delivery's token when the tests
ingest the returned message.
"""
import argparse
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

SENDER = "bounces+verptoken@newsletter.example.org"

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("recipient")
parser.add_argument("message_id")
parser.add_argument("--subject", default="Deep Learning Weekly: Issue #210")
parser.add_argument("--pad", type=int, default=0, help="append this many bytes of text")
args = parser.parse_args()

msg = EmailMessage()
msg["From"] = "Deep Learning Weekly <newsletter@newsletter.example.org>"
msg["To"] = args.recipient
msg["Subject"] = args.subject
msg["Date"] = formatdate(localtime=False)
msg["Message-ID"] = f"<{args.message_id}>"
msg["List-Id"] = "Deep Learning Weekly <weekly.newsletter.example.org>"
msg["List-Unsubscribe"] = "<mailto:unsubscribe+listtoken@newsletter.example.org>"
body = (
    "Hello,\n\nThis week: Perceiver IO, Triton 1.0, and more.\n\n"
    "You receive this because you subscribed to Deep Learning Weekly.\n"
)
if args.pad:
    line = "Padding to make the message larger than the receiving server accepts.\n"
    body += line * (args.pad // len(line) + 1)
msg.set_content(body)

with smtplib.SMTP("127.0.0.1", args.port, local_hostname="newsletter.example.org", timeout=30) as s:
    s.send_message(msg, from_addr=SENDER, to_addrs=[args.recipient])
