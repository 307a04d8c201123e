#!/usr/bin/env python3
"""Keeps deploy/ honest without Docker or Kubernetes: every manifest parses, every metric the
Grafana dashboard queries is one vecsync defines, every flag the manifests, units and crontab
pass exists in `vecsync <command> --help`, and the config example only names real settings."""
import glob
import json
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECSYNC = sys.argv[1]
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


def help_text(*command):
    return subprocess.run([VECSYNC, *command, "--help"], capture_output=True, text=True).stdout


for path in glob.glob(f"{ROOT}/deploy/kubernetes/*.yaml") + [f"{ROOT}/deploy/docker/docker-compose.yml"]:
    try:
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
        check(docs, f"{path}: empty")
    except yaml.YAMLError as e:
        check(False, f"{path}: {e}")

# Metrics: the names the dashboard uses must be defined in the sources.
sources = ""
for path in glob.glob(f"{ROOT}/src/**/*.cc", recursive=True) + glob.glob(f"{ROOT}/workflows/**/*.cc", recursive=True):
    sources += open(path).read()
defined = set(re.findall(r'"(vecsync_[a-z_]+)"', sources))
dashboard = json.load(open(f"{ROOT}/deploy/grafana/vecsync-dashboard.json"))
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        for name in re.findall(r"\b(vecsync_[a-z_]+)", target["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            check(name in defined or base in defined,
                  f"dashboard panel '{panel['title']}' queries {name}, which vecsync does not define")

# Flags: what deploy/ passes must be real.
server_help = help_text("server")
workflow_help = help_text("workflow") + help_text("workflow", "start")
for line in open(f"{ROOT}/deploy/vecsync.conf.example"):
    line = line.strip().lstrip("#").strip()
    m = re.match(r"^([a-z][a-z0-9-]*)\s*=", line)
    if m:
        check(f"--{m.group(1)}" in server_help, f"vecsync.conf.example: unknown setting {m.group(1)}")
texts = [open(p).read() for p in glob.glob(f"{ROOT}/deploy/**/*", recursive=True) if os.path.isfile(p)]
for text in texts:
    for flag in set(re.findall(r"(--[a-z][a-z-]+)", text)):
        if flag in ("--build", "--from", "--from-literal", "--now", "--failed", "--strip-debug", "--no-install-recommends",
                    "--interval", "--timeout", "--retries", "--target"):
            continue  # docker, kubectl, systemctl, apt, cmake, strip
        check(flag in server_help or flag in workflow_help,
              f"deploy/ passes {flag}, which neither `vecsync server` nor `vecsync workflow start` accepts")

for f in failures:
    print("FAIL:", f)
print(f"deploy check: {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
