#!/usr/bin/env python3
"""The web console, clicked through in headless Chromium against a real `vecsync server`.

    console_test.py VECSYNC_BINARY

Needs VECSYNC_PG_URL and VECSYNC_CLICKHOUSE_URL (scripts/services env). It makes a database of
its own, seeds it, runs a sync and a schedule through the CLI, then drives the page over the
Chrome DevTools protocol (on a pipe: no extra package): it enters the token, opens each tab,
clicks rows and buttons with real mouse events, and checks what the page shows against what the
CLI says the API holds.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

VECSYNC = sys.argv[1]
PG_URL = os.environ["VECSYNC_PG_URL"]
TOKEN = "console-test-token"
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)
        print("FAIL:", message, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


class Browser:
    """Headless Chromium driven over --remote-debugging-pipe (fd 3 in, fd 4 out; JSON + NUL)."""

    def __init__(self, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # Out of the way of 3 and 4, so that moving them there clobbers nothing.
        r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)

        def wire():
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [shutil.which("chromium") or "chromium", "--headless=new", "--no-sandbox",
             "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_chrome_r, from_chrome_w, r, w):
            os.close(fd)
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.from_chrome, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url):
        target = self.send("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def eval(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                value = self.eval(expression)
            except RuntimeError:  # Not there yet (the page is still loading).
                value = None
            if value:
                return value
            time.sleep(0.2)
        check(False, f"timed out waiting for {what}: {expression}")
        return None

    def click(self, selector):
        """A real mouse click (press and release) at the middle of the element."""
        box = self.wait(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView(); const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()", selector)
        if not box:
            return
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                   "button": "left", "clickCount": 1})

    def text(self, selector):
        return self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent")

    def close(self):
        self.proc.kill()
        self.proc.wait()


def main():
    database = f"vecsync_console_{os.getpid()}"
    url = urllib.parse.urlparse(PG_URL)._replace(path="/" + database).geturl()
    psql(PG_URL, f"CREATE DATABASE {database}")
    work = tempfile.mkdtemp(prefix="vecsync_console_")
    first_team = 6000000 + (os.getpid() % 100000) * 10
    server = browser = None
    try:
        api, console = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        env = dict(os.environ, VECSYNC_PG_URL=url, VECSYNC_ADDRESS=api, VECSYNC_TOKEN=TOKEN)

        def cli(*args):
            done = subprocess.run([VECSYNC, *args], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"vecsync {' '.join(args)}: {done.stderr}")
            return json.loads(done.stdout) if "-o" in args else done.stdout

        # Teams of its own: ClickHouse's table is shared with other tests.
        subprocess.run([VECSYNC, "dev", "seed", "--teams", "4", "--actions", "60", "--cohorts",
                        "0", "--event-definitions", "0", "--first-team-id", str(first_team)],
                       env=env, check=True, capture_output=True)
        with open(f"{work}/tokens", "w") as f:
            f.write(TOKEN + "\n")
        server = subprocess.Popen(
            [VECSYNC, "server", "--listen", api, "--metrics-listen", "off", "--console-listen",
             console, "--no-change-feed", "--auth-token-file", f"{work}/tokens"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/server.log", "w"))
        deadline = time.time() + 30
        while subprocess.run([VECSYNC, "health"], env=env, capture_output=True).returncode != 0:
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not start: " + open(f"{work}/server.log").read())
            time.sleep(0.3)

        sync = cli("workflow", "start", "--type", "sync-entity-vectors", "--input",
                   '{"domain":"action"}', "--wait", "-o", "json")
        cli("schedule", "create", "-s", "console-sched", "--cron", "@daily", "--type",
            "demo-greeting")
        failed_key = psql(url, "SELECT team_id || '/' || entity_id FROM vecsync.entity_state "
                               "WHERE domain = 'action' ORDER BY team_id, entity_id LIMIT 1")
        team, entity = failed_key.split("/")
        psql(url, "UPDATE vecsync.entity_state SET failures = 5, quarantined = true, "
                  f"last_error = 'the provider refused it' WHERE domain = 'action' "
                  f"AND team_id = {team} AND entity_id = '{entity}'")

        browser = Browser(f"{work}/chromium")
        browser.open(f"http://{console}/")

        # Without a token the page says one is needed.
        browser.wait("document.querySelector('#error').dataset.code === 'UNAUTHENTICATED'",
                     "the page to ask for a token")
        browser.click("#token")
        browser.send("Input.insertText", {"text": TOKEN})
        browser.click("#save-token")
        runs = cli("workflow", "list", "--page-size", "50", "-o", "json")
        browser.wait(f"document.querySelectorAll('#runs-table tbody tr').length === {len(runs)}",
                     f"{len(runs)} runs listed")
        check(browser.eval("document.querySelector('#runs-table tbody tr').dataset.workflowId")
              == runs[0]["workflow_id"], "the newest run is first, as the API lists it")
        check(browser.eval("getComputedStyle(document.querySelector('#error')).display") == "none",
              "no error once the token is given")

        # A run's details: its status and result, as describe says.
        browser.click(f"#runs-table tr[data-workflow-id='{sync['workflow_id']}']")
        browser.wait("(document.querySelector('[data-field=run-status]') || {}).textContent"
                     " === 'COMPLETED'", "the sync run's details")
        shown = json.loads(browser.text("pre[data-field=result]"))
        check(shown == sync["result"], f"the run's result: page {shown} vs API {sync['result']}")
        check(browser.text("[data-field=progress]") is not None, "the run's progress is shown")

        # Sync status per domain and team, as `vecsync status` says.
        status = cli("status", "--domain", "action", "-o", "json")["domains"][0]
        browser.click("nav button[data-tab=status]")
        action = ".domain[data-domain=action] tr[data-team=all]"
        browser.wait(f"!!document.querySelector('{action}')", "the action domain's status")
        for field in ("in_scope", "synced", "stale", "failed", "quarantined", "to_remove"):
            shown = browser.text(f"{action} [data-field={field}]")
            check(shown == str(status["totals"][field]),
                  f"status {field}: page {shown} vs API {status['totals'][field]}")
        teams = browser.eval("document.querySelectorAll('.domain[data-domain=action] "
                             "tr[data-team]:not([data-team=all])').length")
        check(teams == len(status["teams"]), f"{teams} team rows vs {len(status['teams'])}")
        check("last run: COMPLETED" in browser.text(".domain[data-domain=action] "
                                                    "[data-field=last-run]"),
              "the last run is shown")

        # Schedules: pause and trigger.
        browser.click("nav button[data-tab=schedules]")
        row = "#schedules-table tr[data-schedule-id=console-sched]"
        browser.wait(f"(document.querySelector('{row} [data-field=state]') || {{}}).textContent"
                     " === 'active'", "the schedule, active")
        browser.click(f"{row} button[data-action=pause]")
        browser.wait(f"document.querySelector('{row} [data-field=state]').textContent === 'paused'",
                     "the schedule, paused")
        check(cli("schedule", "describe", "-s", "console-sched", "-o", "json")["paused"],
              "the API says the schedule is paused")
        browser.click(f"{row} button[data-action=trigger]")
        deadline = time.time() + 20
        while not cli("workflow", "list", "--type", "demo-greeting", "-o", "json"):
            if time.time() > deadline:
                check(False, "trigger started no run")
                break
            time.sleep(0.3)

        # Failed entities, retried.
        browser.click("nav button[data-tab=failed]")
        entity_row = f"#failed-table tr[data-entity='{failed_key}']"
        browser.wait(f"(document.querySelector(\"{entity_row} [data-field=quarantined]\") || {{}})"
                     ".textContent === 'yes'", "the quarantined entity")
        browser.click("#retry-failed")
        browser.wait("document.querySelector('#failed-note').textContent.startsWith('1 will be')",
                     "the retry's outcome")
        after = cli("entities", "failed", "--domain", "action", "--pg-url", url, "-o", "json")
        check(len(after) == 1 and not after[0]["quarantined"] and after[0]["failures"] == 1,
              f"the API says the entity will be retried: {after}")
        browser.wait(f"document.querySelector(\"{entity_row} [data-field=quarantined]\")"
                     ".textContent === 'no'", "the entity, no longer quarantined")

        # Search: the same hits as `vecsync search`.
        browser.click("nav button[data-tab=search]")
        browser.click("#search-team")
        browser.send("Input.insertText", {"text": team})
        browser.click("#search-query")
        browser.send("Input.insertText", {"text": "pageview on the pricing page"})
        browser.click("#search-go")
        hits = cli("search", "--domain", "action", "--team", team, "--limit", "10", "-o", "json",
                   "pageview on the pricing page")
        browser.wait(f"document.querySelectorAll('#search-results li[data-id]').length"
                     f" === {len(hits)}", f"{len(hits)} search hits")
        shown = browser.eval("[...document.querySelectorAll('#search-results li[data-id]')]"
                             ".map(li => li.dataset.id)")
        check(shown == [h["id"] for h in hits], f"search hits: page {shown} vs API {hits}")

        # A run that keeps failing shows its pending activity and why; Cancel asks it to stop.
        psql(url, "DROP TABLE posthog_eventdefinition")
        stuck = cli("workflow", "start", "--type", "sync-entity-vectors", "--input",
                    '{"domain":"event_definition"}', "--workflow-id", "stuck-sync", "-o", "json")
        browser.click("nav button[data-tab=runs]")
        browser.click("#runs-table tr[data-workflow-id=stuck-sync]")
        browser.wait("[...document.querySelectorAll('#pending tbody tr td')]"
                     ".some(td => td.textContent.includes('posthog_eventdefinition'))",
                     "the pending activity's last failure, naming the missing table")
        browser.click("#cancel-run")
        deadline = time.time() + 30
        while cli("workflow", "describe", "-w", "stuck-sync", "-o", "json")["status"] != "CANCELED":
            if time.time() > deadline:
                check(False, "Cancel did not cancel the run")
                break
            time.sleep(0.3)
        browser.wait("(document.querySelector('[data-field=run-status]') || {}).textContent"
                     " === 'CANCELED'", "the run, canceled")
        check(stuck["started"], "the stuck run started")

        # Only the calls the page makes are let through, only as the page makes them: JSON, from
        # its own origin, for a loopback host, with a header that can be a token.
        def post(method, headers):
            request = urllib.request.Request(f"http://{console}/api/{method}", data=b"{}",
                                             headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request) as response:
                    return response.status
            except urllib.error.HTTPError as e:
                return e.code

        page = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        listing = "vecsync.v1.ScheduleService/ListSchedules"
        check(post(listing, page) == 200, "the page's own call")
        check(post("vecsync.v1.WorkflowService/TerminateWorkflow", page) == 404,
              "TerminateWorkflow went through the console")
        check(post(listing, dict(page, **{"Content-Type": "text/plain"})) == 403,
              "a form-like POST (no preflight) went through")
        check(post(listing, dict(page, Host=f"rebound.example:{console.split(':')[1]}")) == 403,
              "a request for another host name (DNS rebinding) went through")
        check(post(listing, dict(page, Origin="http://evil.example")) == 403,
              "a call from another origin went through")
        check(post(listing, dict(page, Authorization="Bearer a\tb")) == 401,
              "a header no token could be was not refused")
        check(subprocess.run([VECSYNC, "health"], env=env, capture_output=True).returncode == 0,
              "the server died of a bad Authorization header")
    finally:
        if browser:
            browser.close()
        if server:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        psql(PG_URL, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        urllib.request.urlopen(urllib.request.Request(
            os.environ["VECSYNC_CLICKHOUSE_URL"], method="POST",
            data=f"ALTER TABLE pg_embeddings DELETE WHERE team_id BETWEEN {first_team} "
                 f"AND {first_team + 9}".encode())).read()
        shutil.rmtree(work, ignore_errors=True)
    print(f"console test: {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
