#!/usr/bin/env python3
"""The crate's module import graph: which module uses which, and any cycles.

    python3 scripts/module-graph.py            # cycles and layer violations (exit 1 if any)
    python3 scripts/module-graph.py --edges    # every edge, for a picture
    python3 scripts/module-graph.py --layers   # the edges between top-level modules, by layer

A module is a file under src/ (src/db/bounces.rs is `db::bounces`, src/db/mod.rs is `db`).
An edge A -> B means A names `crate::B…` (in a `use` or a path), or `super::…` resolving to
B. Tests inside a file (`#[cfg(test)] mod tests`) count too: they compile with the module.
"""

import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


# ARCHITECTURE.md draws these. A module may use modules of lower layers, and modules of its
# own layer as long as that makes no cycle; never a higher layer.
LAYERS = [
    ("domain", ["domain"]),
    ("pure logic", ["issue_file", "bounce", "token"]),
    ("settings", ["config"]),
    ("rendering", ["render", "message", "charts"]),
    ("data", ["db"]),
    ("services", ["transport", "pacing", "metrics", "telemetry", "worker", "inbound",
                  "webhooks", "optin", "subscribers", "archive", "issues", "operators", "clicks",
                  "checks", "doctor"]),
    ("interfaces", ["http", "startup", "cli", "main"]),
]


def layer_of(module):
    top = module.split("::")[0] or "main"
    for n, (_, members) in enumerate(LAYERS):
        if top in members:
            return n
    return None


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return "::".join(rel)


def modules():
    found = {}
    for root, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".rs"):
                p = os.path.join(root, f)
                found[module_of(p)] = p
    return found


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def expand_use_groups(text):
    """`use crate::{a::x, b}` -> paths crate::a::x, crate::b (one level of nesting is
    enough for this crate's style; deeper groups are expanded recursively)."""
    paths = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)(?:::\w+)*)::\{", text):
        prefix, start = m.group(1), m.end()
        depth, i = 1, start
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        inner = text[start:i - 1]
        for part in split_top(inner):
            part = part.strip()
            if not part or part == "self":
                paths.append(prefix)
                continue
            if "{" in part:
                head = part[: part.index("{")].rstrip(":")
                for sub in split_top(part[part.index("{") + 1 : part.rindex("}")]):
                    sub = sub.strip()
                    if sub:
                        paths.append(f"{prefix}::{head}::{sub.split(' as ')[0]}")
            else:
                paths.append(f"{prefix}::{part.split(' as ')[0]}")
    return paths


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def resolve(path, here, known):
    """The longest known module that `path` (crate::…, super::…) names."""
    segs = path.split("::")
    base = here.split("::") if here else []
    if segs[0] == "crate":
        segs = segs[1:]
    elif segs[0] in ("super", "self"):
        # `here` is a file module: super of db::bounces is db.
        cur = base[:]
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                cur = cur[:-1]
            segs = segs[1:]
        segs = cur + segs
    else:
        return None
    for n in range(len(segs), 0, -1):
        cand = "::".join(segs[:n])
        if cand in known:
            return cand
    return None


def graph():
    known = modules()
    edges = {m: set() for m in known}
    for m, path in known.items():
        text = strip_comments(open(path, encoding="utf-8").read())
        paths = expand_use_groups(text)
        paths += re.findall(r"\b((?:crate|super)(?:::\w+)+)", text)
        for p in paths:
            target = resolve(p, m, known)
            # A module's own submodules and its parent's re-exports are not dependencies
            # between layers; a child naming its parent is (db::bounces -> db).
            if target and target != m and not target.startswith(m + "::"):
                edges[m].add(target)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    edges = graph()
    if "--edges" in sys.argv:
        for m in sorted(edges):
            for t in sorted(edges[m]):
                print(f"{m} -> {t}")
        return 0
    if "--layers" in sys.argv:
        tops = sorted({(m.split("::")[0], t.split("::")[0]) for m in edges for t in edges[m]
                       if m.split("::")[0] != t.split("::")[0]})
        for n, (name, members) in enumerate(LAYERS):
            print(f"{n} {name}: {', '.join(members)}")
            for a, b in tops:
                if a in members:
                    print(f"    {a} -> {b}")
        return 0
    problems = 0
    for m in sorted(edges):
        if layer_of(m) is None:
            print(f"unplaced: {m} (add its top-level module to LAYERS and ARCHITECTURE.md)")
            problems += 1
        for t in sorted(edges[m]):
            if None not in (layer_of(m), layer_of(t)) and layer_of(t) > layer_of(m):
                print(f"upward: {m} ({LAYERS[layer_of(m)][0]}) -> {t} ({LAYERS[layer_of(t)][0]})")
                problems += 1
    found = cycles(edges)
    for comp in found:
        print("cycle:", ", ".join(comp))
        # One concrete loop through the component, to say where to cut.
        for a in comp:
            for b in sorted(edges[a]):
                if b in comp:
                    print(f"    {a} -> {b}")
    if not found and not problems:
        print(f"no cycles and no upward imports among {len(edges)} modules")
    return 1 if found or problems else 0


if __name__ == "__main__":
    sys.exit(main())
