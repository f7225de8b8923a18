#!/usr/bin/env python3
"""Checks that #include edges between ringflow's modules follow the layering.

Every quoted include in src/**/*.{h,cc} is rooted at src/. A file belongs to
the module of its path (one module = one Meson static_library): the first
folder under src/, except store/embedded, store/history, store/postgres,
store/redis and http/client, which are modules of their own. An include is allowed when it
stays inside its module or names a module in ALLOWED[module] below. A header
under X/detail/ may only be included from module X. Each module's README.md
must quote its row ("May include: ... Included by: ...", see --print-table).

The table is the intended architecture (../shared/STYLE.md section 1), not a
list of today's edges: includes point down only, app -> api -> engine ->
store -> reactor -> obs/base; json and http sit beside engine and never
include it; store adapters include only the store interface and
base/obs/reactor (+ their library; the embedded one json too).

usage: tools/check_layers.py [--root DIR] [--print-table] [--no-readmes]
Exit status: 0 clean, 1 violations, 2 usage error.
"""

import argparse
import os
import re
import sys

# module -> the modules it may include (besides itself). Keep in sync with the
# `dependencies:` lists in src/**/meson.build and the module READMEs
# ("May include / Included by": generate them with --print-table).
ALLOWED = {
    "base": [],
    "obs": ["base"],
    "reactor": ["obs", "base"],
    "json": ["base"],
    # OpenSSL over memory BIOs, no I/O: the HTTPS server's sessions and verifying client sessions.
    "tls": ["base"],
    "http": ["reactor", "obs", "base", "tls"],
    # The outbound client shares http's public grammar helpers (http/syntax.h).
    "http/client": ["http", "reactor", "obs", "base", "tls"],
    # The store interface (store.h, history_store.h) and its vocabulary (RunId, RunStatus).
    "store": ["reactor", "obs", "base"],
    # Adapters of the store interface. The embedded one keeps definitions as JSON records.
    "store/embedded": ["store", "json", "reactor", "obs", "base"],
    "store/history": ["store", "reactor", "obs", "base"],
    "store/postgres": ["store", "reactor", "obs", "base"],
    # The Redis client, and the cluster's event bus on it (store.h's EventBus); rediss:// over
    # tls's client sessions.
    "store/redis": ["store", "reactor", "obs", "base", "tls"],
    "fanout": ["reactor", "obs", "base"],
    # Quotas per namespace: the quotas file and each shard's token buckets.
    "quota": ["json", "base"],
    # Authentication: API keys (kept through the store interface), JWTs, roles.
    "auth": ["store", "json", "reactor", "obs", "base"],
    # Tracing: W3C trace context, spans, the per-shard span ring and the OTLP JSON exporter (its
    # HTTP transport is handed in by app/).
    "trace": ["json", "reactor", "obs", "base"],
    # The engine sees stores only through the interface; app/ picks the adapter.
    "engine": ["fanout", "store", "trace", "json", "reactor", "obs", "base"],
    # Schedules: cron and time zones (pure), and each shard's scheduler, which starts runs
    # through the engine's coordinators and keeps its schedules through the store interface.
    "schedule": ["engine", "store", "json", "reactor", "obs", "base"],
    # Engine's http step executor over the outbound client.
    "steps": ["engine", "http/client", "json", "reactor", "obs", "base"],
    # api forwards a request for a run another instance holds to that instance with the
    # shard's outbound client (api/detail/forward.h).
    "api": ["auth", "engine", "http", "http/client", "fanout", "quota", "schedule", "store", "trace", "json", "reactor",
            "obs", "base", "ui"],
    # The web UI's static files, embedded at build time; api serves them.
    "ui": [],
    # The client commands of the binary: a blocking HTTP client over http/client's pure parts
    # (URL, request writer, response parser) and JSON; never the engine or the reactor.
    "cli": ["http/client", "tls", "json", "base"],
    # The only place that names concrete adapters: everything below it.
    "app": ["api", "auth", "cli", "steps", "schedule", "engine", "http", "http/client", "fanout", "quota", "store",
            "store/embedded", "store/history", "store/postgres", "store/redis", "trace", "json",
            "reactor", "obs", "base", "tls"],
}

# Folders that are modules of their own although they sit inside another one.
SUBMODULES = ("store/embedded", "store/history", "store/postgres", "store/redis", "http/client")

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def module_of(rel):
    """src-relative path -> module name (None for files directly in src/)."""
    parts = rel.split("/")
    if len(parts) < 2:
        return None
    for sub in SUBMODULES:
        if rel.startswith(sub + "/"):
            return sub
    return parts[0]


def detail_owner(header):
    """'X/detail/y.h' -> 'X' (the module that owns that detail/ folder), else None."""
    parts = header.split("/")
    if "detail" not in parts[:-1]:
        return None
    return module_of("/".join(parts[: parts.index("detail")]) + "/x")


def included_by():
    users = {m: [] for m in ALLOWED}
    for m, deps in ALLOWED.items():
        for d in deps:
            users[d].append(m)
    return users


def readme_lines(m, users):
    """The two sentences src/<m>/README.md must contain (whitespace may wrap)."""
    return (f"May include: {', '.join(ALLOWED[m]) or 'nothing'}.",
            f"Included by: {', '.join(users[m]) or 'nothing'}.")


def print_table():
    users = included_by()
    for m in ALLOWED:
        may, by = readme_lines(m, users)
        print(f"{m}\n  {may}\n  {by}")


def check_readmes(root):
    """Each module's README.md quotes its row of the table."""
    users = included_by()
    problems = []
    for m in ALLOWED:
        path = os.path.join(root, "src", m, "README.md")
        shown = os.path.relpath(path, root)
        if not os.path.isfile(path):
            problems.append(f"{shown}:1: missing (module {m} needs a README with its row of the table)")
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = " ".join(f.read().split())
        for want in readme_lines(m, users):
            if want not in text:
                problems.append(f"{shown}:1: does not say \"{want}\" (tools/check_layers.py --print-table)")
    return problems


def check_table():
    """The table itself must name known modules and be acyclic."""
    problems = []
    for m, deps in ALLOWED.items():
        for d in deps:
            if d not in ALLOWED:
                problems.append(f"table: {m} names unknown module {d}")
    state = {}

    def visit(m, path):
        state[m] = 1
        for d in ALLOWED.get(m, []):
            if state.get(d) == 1:
                problems.append("table: cycle " + " -> ".join(path + [m, d]))
            elif d in ALLOWED and d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in ALLOWED:
        if m not in state:
            visit(m, [])
    return problems


def scan(root):
    src = os.path.join(root, "src")
    if not os.path.isdir(src):
        print(f"check_layers: no src/ under {root}", file=sys.stderr)
        sys.exit(2)
    violations = []
    files = edges = 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith((".h", ".cc")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            mod = module_of(rel)
            if mod is None:
                continue
            files += 1
            shown = os.path.relpath(path, root)
            if mod not in ALLOWED:
                violations.append(f"{shown}:1: module {mod} is not in the layering table")
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE_RE.match(line)
                    if not m:
                        continue
                    header = m.group(1)
                    target = module_of(header)
                    if target is None:
                        continue
                    edges += 1
                    owner = detail_owner(header)
                    if owner is not None and owner != mod:
                        violations.append(f"{shown}:{lineno}: module {mod} may not include "
                                          f"{owner}/detail ({header}): detail/ is private to {owner}")
                    elif target != mod and target not in ALLOWED[mod]:
                        violations.append(f"{shown}:{lineno}: module {mod} may not include "
                                          f"{target} ({header})")
    return files, edges, violations


def main():
    ap = argparse.ArgumentParser(
        description="Check that #include \"...\" edges in src/ follow the module layering "
        "(STYLE.md section 1): each module includes only the modules its row of the table "
        "names, and X/detail/ only from inside X. Exits 1 on any violation.")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                    help="repository root holding src/ (default: this script's repository)")
    ap.add_argument("--print-table", action="store_true",
                    help="print the allowed dependencies (may include / included by) and exit")
    ap.add_argument("--no-readmes", action="store_true",
                    help="skip checking that each src/<module>/README.md quotes its row")
    args = ap.parse_args()

    problems = check_table()
    if args.print_table:
        print_table()
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0

    root = os.path.abspath(args.root)
    files, edges, violations = scan(root)
    violations = problems + violations
    if not args.no_readmes:
        violations += check_readmes(root)
    for v in violations:
        print(v)
    status = "ok" if not violations else f"{len(violations)} violation(s)"
    print(f"layers: {files} files, {edges} includes checked, {status}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
