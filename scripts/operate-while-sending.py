#!/usr/bin/env python3
"""Operate mailroom while it sends, as a new operator would, and count what fails.

`mailroom serve` delivers a 20,000-message send into its outbox with the rate limits lifted,
while this script runs each operator command 20 times (subscribers import, issue import,
send pause, send resume) and POSTs 20 subscribers to the admin API. It prints the failures
per command and whether the send completed.

    python3 scripts/operate-while-sending.py [path/to/mailroom] [--rounds N]

tests/it/concurrency.rs asserts the same (paced, so that it stays meaningful on a slow
machine); this script is the stress version, used for the figures in the README.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKEN = "admin-token-for-measuring-0123456789"


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = 20
    if "--rounds" in sys.argv:
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1])
        args = [a for a in args if a != str(rounds)]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.path.abspath(args[0]) if args else os.path.join(repo, "target/release/mailroom")
    sample = os.path.join(repo, "samples/issue-210.md")
    work = tempfile.mkdtemp(prefix="mailroom-operate-")
    with open(os.path.join(work, "mailroom.toml"), "w") as f:
        f.write(
            f'[database]\npath = "{work}/mailroom.db"\n'
            f'[delivery]\noutbox_dir = "{work}/outbox"\nrate_per_second = 1000000\n'
            "burst = 100000\nconcurrency = 8\nbatch_size = 200\npoll_interval_ms = 50\n"
            '[http]\nbind = "127.0.0.1:0"\n'
            f'[admin]\ntoken = "{TOKEN}"\n'
            '[secrets]\ntoken_key = "measuring-token-key-0123456789abcdef0123"\n'
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env["MAILROOM_LOG"] = "error"

    def mailroom(*cmd):
        return subprocess.run([binary, *cmd], cwd=work, env=env, capture_output=True, text=True)

    with open(os.path.join(work, "list.csv"), "w") as f:
        f.write("email,name\n")
        for k in range(20_000):
            f.write(f"reader{k}@example.org,Reader {k}\n")
    for cmd in (["issue", "import", sample], ["issue", "finalize", "210"],
                ["subscribers", "import", "list.csv"], ["issue", "send", "210"]):
        out = mailroom(*cmd)
        if out.returncode != 0:
            print(f"setup failed: {' '.join(cmd)}: {out.stderr}", file=sys.stderr)
            return 2

    serve = subprocess.Popen([binary, "serve"], cwd=work, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    base = serve.stdout.readline().strip().removeprefix("mailroom listening on ")
    issue = open(sample).read()
    failures = {"subscribers import": [], "issue import": [], "send pause": [],
                "send resume": [], "POST /api/subscribers": []}
    started = time.monotonic()
    for r in range(rounds):
        with open(os.path.join(work, f"new-{r}.csv"), "w") as f:
            f.write("email,name\n")
            for k in range(500):
                f.write(f"new{r}-{k}@example.org,New {k}\n")
        with open(os.path.join(work, "issue-211.md"), "w") as f:
            f.write(issue.replace("number = 210", "number = 211")
                    .replace("Hey folks", f"Hey folks (draft {r})"))
        for name, cmd in (("subscribers import", ["subscribers", "import", f"new-{r}.csv"]),
                          ("issue import", ["issue", "import", "issue-211.md"]),
                          ("send pause", ["send", "pause", "210"]),
                          ("send resume", ["send", "resume", "210"])):
            out = mailroom(*cmd)
            if out.returncode != 0:
                failures[name].append(out.stderr.strip().splitlines()[-1] if out.stderr else "?")
        body = json.dumps({"email": f"api{r}@example.org", "name": f"API {r}"}).encode()
        request = urllib.request.Request(
            f"{base}/api/subscribers", data=body, method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as reply:
                if reply.status != 201:
                    failures["POST /api/subscribers"].append(str(reply.status))
        except urllib.error.HTTPError as e:
            failures["POST /api/subscribers"].append(f"{e.code} {e.read()[:80]!r}")
    operated = time.monotonic() - started

    status = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = mailroom("send", "status", "210").stdout
        if "issue #210: done" in status:
            break
        time.sleep(0.2)
    serve.terminate()
    serve.wait()

    print(f"binary: {binary}")
    print(f"{rounds} rounds in {operated:.1f} s while serve delivered 20,000 messages")
    for name, errors in failures.items():
        kinds = sorted(set(e[:100] for e in errors))
        print(f"  {name:24} {len(errors):3}/{rounds} failed" + (f"  e.g. {kinds[0]}" if kinds else ""))
    print("send:", status.strip().splitlines()[0] if status else "?")
    return 1 if any(failures.values()) or "done" not in status else 0


if __name__ == "__main__":
    sys.exit(main())
