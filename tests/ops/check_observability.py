#!/usr/bin/env python3
"""Checks the dashboard and alert rules of observability/ against the daemon's sources.

Usage: check_observability.py CHECK [--root DIR] [--dashboard FILE] [--alerts FILE]
                                    [--tests FILE] [--readme FILE]

CHECK is one of:
  json         the dashboard parses; schemaVersion, the DS_PROMETHEUS input and the
               datasource, job and instance variables are there; panel ids are unique;
               there is a row per area
  datasources  every panel but rows, and every query, names the templated data source
  metrics      every rf_* name in the dashboard and the rules (less _bucket/_sum/_count)
               is a family the daemon exports: a "rf_..." string literal in src/
  promql       every dashboard query parses (promtool check rules on a rule file made
               of them, Grafana's variables replaced by values)
  alerts       every alert has for:, a severity of warning or critical, summary,
               description and runbook annotations, a runbook section in the README,
               and in the tests an eval where it fires and one where it does not

Exits 0 when the check passes, 1 with the reasons otherwise, 2 on bad usage.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

AREAS = ["runs", "steps", "hop", "store", "history", "server-sent events", "http", "errors",
         "process", "partitions"]
NAME = re.compile(r"\brf_[a-z0-9_]+")
SUFFIXES = ("_bucket", "_sum", "_count")


def panels_of(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows keep their panels inside


def exprs_of(dash):
    for p in panels_of(dash):
        for t in p.get("targets", []):
            yield p, t


def check_json(a):
    errs = []
    try:
        with open(a.dashboard) as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{a.dashboard}: {e}"]
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        errs.append(f"schemaVersion {dash.get('schemaVersion')!r}: want 36 or later")
    inputs = [i.get("name") for i in dash.get("__inputs", [])]
    if "DS_PROMETHEUS" not in inputs:
        errs.append("no DS_PROMETHEUS in __inputs")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        errs.append("no 'datasource' variable of type datasource (prometheus)")
    elif "${DS_PROMETHEUS}" not in json.dumps(ds.get("current", {})):
        errs.append("the datasource variable does not default to ${DS_PROMETHEUS}")
    for v in ("job", "instance"):
        if v not in variables:
            errs.append(f"no '{v}' variable")
    ids = [p.get("id") for p in panels_of(dash)]
    dup = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if dup or None in ids:
        errs.append(f"panel ids missing or repeated: {dup}")
    rows = [p.get("title", "").lower() for p in panels_of(dash) if p.get("type") == "row"]
    for area in AREAS:
        if not any(r.startswith(area) for r in rows):
            errs.append(f"no row for {area} (rows: {rows})")
    for p in panels_of(dash):
        if p.get("type") != "row" and not p.get("targets"):
            errs.append(f"panel {p.get('title')!r} has no queries")
        if "gridPos" not in p:
            errs.append(f"panel {p.get('title')!r} has no gridPos")
    return errs


def check_datasources(a):
    with open(a.dashboard) as f:
        dash = json.load(f)
    want = {"type": "prometheus", "uid": "${datasource}"}
    errs = []
    for p in panels_of(dash):
        if p.get("type") == "row":
            continue
        if p.get("datasource") != want:
            errs.append(f"panel {p.get('title')!r}: datasource {p.get('datasource')!r}, want {want}")
        for t in p.get("targets", []):
            if t.get("datasource") != want:
                errs.append(f"panel {p.get('title')!r} query {t.get('refId')}: datasource {t.get('datasource')!r}")
            if not t.get("expr", "").strip():
                errs.append(f"panel {p.get('title')!r} query {t.get('refId')}: empty expr")
    for v in json.load(open(a.dashboard)).get("templating", {}).get("list", []):
        if v.get("type") == "query" and v.get("datasource") != want:
            errs.append(f"variable {v.get('name')!r}: datasource {v.get('datasource')!r}")
    return errs


def exported_families(src):
    names = set()
    for d, _, files in os.walk(src):
        for fn in files:
            if fn.endswith((".cc", ".h")):
                with open(os.path.join(d, fn), errors="replace") as f:
                    names.update(re.findall(r'"(rf_[a-z0-9_]+)"', f.read()))
    return names


def family(name):
    for s in SUFFIXES:
        if name.endswith(s):
            return name[: -len(s)]
    return name


def check_metrics(a):
    known = exported_families(os.path.join(a.root, "src"))
    if not known:
        return [f"no rf_ names found under {a.root}/src"]
    errs = []
    used = 0
    for path in (a.dashboard, a.alerts):
        with open(path) as f:
            text = f.read()
        for n in sorted(set(NAME.findall(text))):
            used += 1
            if family(n) not in known and n not in known:
                errs.append(f"{path}: {n} is not exported by the daemon (no \"{family(n)}\" in src/)")
    if used == 0:
        errs.append("no rf_ names in the dashboard and the rules")
    return errs


def check_promql(a):
    with open(a.dashboard) as f:
        dash = json.load(f)
    rules = []
    for i, (p, t) in enumerate(exprs_of(dash)):
        e = t.get("expr", "")
        for var, val in (("$__rate_interval", "5m"), ("$__range", "1h"), ("$__interval", "1m"),
                         ("$job", ".*"), ("$instance", ".*")):
            e = e.replace(var, val)
        if "$" in e.replace("${1}", ""):
            return [f"panel {p.get('title')!r}: unknown variable in {t.get('expr')!r}"]
        rules.append({"record": f"dashboard:query_{i}", "expr": e})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        tmp = f.name
    try:
        r = subprocess.run(["promtool", "check", "rules", tmp], capture_output=True, text=True)
    finally:
        os.unlink(tmp)
    if r.returncode != 0:
        return [f"promtool check rules on the dashboard's {len(rules)} queries failed:", r.stdout, r.stderr]
    return []


def anchor(heading):
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def check_alerts(a):
    with open(a.alerts) as f:
        rules = yaml.safe_load(f)
    with open(a.tests) as f:
        tests = yaml.safe_load(f)
    with open(a.readme) as f:
        anchors = {anchor(m) for m in re.findall(r"^#+ (.+)$", f.read(), re.M)}
    fires, quiet = set(), set()
    for t in tests.get("tests", []):
        for case in t.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case.get("alertname"))
    errs = []
    alerts = [r for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r]
    if not alerts:
        return [f"{a.alerts}: no alerts"]
    for r in alerts:
        n = r["alert"]
        if not r.get("for"):
            errs.append(f"{n}: no for:")
        if r.get("labels", {}).get("severity") not in ("warning", "critical"):
            errs.append(f"{n}: severity {r.get('labels', {}).get('severity')!r}, want warning or critical")
        ann = r.get("annotations", {})
        for k in ("summary", "description", "runbook"):
            if not str(ann.get(k, "")).strip():
                errs.append(f"{n}: no {k} annotation")
        m = re.match(r"observability/README\.md#([a-z0-9-]+)", str(ann.get("runbook", "")))
        if not m:
            errs.append(f"{n}: runbook does not start with observability/README.md#<section>")
        elif m.group(1) not in anchors:
            errs.append(f"{n}: no section #{m.group(1)} in {a.readme}")
        if n not in fires:
            errs.append(f"{n}: no test where it fires ({a.tests})")
        if n not in quiet:
            errs.append(f"{n}: no test where it must not fire (exp_alerts: []) ({a.tests})")
    unknown = (fires | quiet) - {r["alert"] for r in alerts}
    if unknown:
        errs.append(f"{a.tests} tests alerts that do not exist: {sorted(unknown)}")
    return errs


CHECKS = {"json": check_json, "datasources": check_datasources, "metrics": check_metrics,
          "promql": check_promql, "alerts": check_alerts}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("check", choices=sorted(CHECKS))
    ap.add_argument("--root", default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
    ap.add_argument("--dashboard")
    ap.add_argument("--alerts")
    ap.add_argument("--tests")
    ap.add_argument("--readme")
    a = ap.parse_args()
    obs = os.path.join(a.root, "observability")
    a.dashboard = a.dashboard or os.path.join(obs, "grafana", "ringflow.json")
    a.alerts = a.alerts or os.path.join(obs, "prometheus", "alerts.yml")
    a.tests = a.tests or os.path.join(obs, "prometheus", "alerts_test.yml")
    a.readme = a.readme or os.path.join(obs, "README.md")
    errs = CHECKS[a.check](a)
    for e in errs:
        print(e)
    print(f"observability {a.check}: {'ok' if not errs else f'{len(errs)} problem(s)'}")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
