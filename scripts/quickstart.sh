#!/usr/bin/env bash
# The whole flow on the embedded default (SQLite file + local .eml outbox), no server needed:
# import the sample issue and subscribers, finalize, send, deliver, show the result.
set -euo pipefail
cd "$(dirname "$0")/.."

demo="${1:-demo}"
mkdir -p "$demo"
# The demo folder is this script's own scratch space: start from a clean list every run.
rm -rf "$demo/mailroom.db" "$demo/mailroom.db-wal" "$demo/mailroom.db-shm" "$demo/outbox" "$demo/preview"
export MAILROOM_DATABASE__PATH="$demo/mailroom.db"
export MAILROOM_DELIVERY__OUTBOX_DIR="$demo/outbox"

# The target directory .ci/run uses too: the test command after the quick start then
# reuses this build instead of compiling every dependency again.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mailroom-target}"
echo "==> building mailroom (into $CARGO_TARGET_DIR)"
cargo build --quiet --bin mailroom
mailroom() { "$CARGO_TARGET_DIR/debug/mailroom" "$@"; }

echo "==> importing, finalizing and previewing the sample issue"
mailroom issue import samples/issue-210.md
mailroom issue finalize 210
mailroom issue preview 210 --out "$demo/preview"
echo "==> importing the sample subscribers"
mailroom subscribers import samples/subscribers.csv
echo "==> sending"
mailroom issue send 210
mailroom worker --drain
mailroom send status 210

count=$(find "$demo/outbox" -name '*.eml' | wc -l)
first=$(find "$demo/outbox" -name '*.eml' | sort | head -n 1)
link=$(grep -m1 -o 'https\?://[^>]*/u/[a-z0-9]*' "$first")
echo
echo "Done: $count messages in $demo/outbox/ (one .eml per subscriber), e.g. $first"
echo "Preview of the issue: $demo/preview/issue.html"
echo "One unsubscribe link: $link"
