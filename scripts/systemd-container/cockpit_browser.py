#!/usr/bin/env python3
"""The dbbackup Cockpit page in a real browser: Debian's chromium driven by Playwright, logged in
to Cockpit as a PAM user with sudo, against dbbackup and Cockpit installed from packages in a
systemd-nspawn container. Run by cockpit-test.sh, which sets up the container and passes:

  COCKPIT_URL COCKPIT_USER COCKPIT_PASSWORD   where and as whom to log in
  COCKPIT_CONTAINER COCKPIT_EXEC              the container, and exec.sh to run the CLI in it
  COCKPIT_S3_ENV                              moto.env of the S3 server (scripts/s3/moto_up.py)
  COCKPIT_SCREENSHOTS                         where the README's screenshots go
  COCKPIT_FAILURES (optional, default /tmp)   where a failed scenario's screenshot goes
  COCKPIT_DEBUG_FRAMES=1 (optional)           print the websocket messages of dbbackup's commands

Every result the page shows is checked against the dbbackup command line in the container.
Prints one line per check and "cockpit-browser: N passed, N failed"; exit status 1 on failure.
"""
import json
import os
import re
import subprocess
import sys
import time

from playwright.sync_api import expect, sync_playwright

URL = os.environ["COCKPIT_URL"]
USER = os.environ["COCKPIT_USER"]
PASSWORD = os.environ["COCKPIT_PASSWORD"]
CONTAINER = os.environ["COCKPIT_CONTAINER"]
EXEC = os.environ["COCKPIT_EXEC"]
SCREENSHOTS = os.environ["COCKPIT_SCREENSHOTS"]
FAILURES = os.environ.get("COCKPIT_FAILURES", "/tmp")
S3 = dict(line.split("=", 1) for line in open(os.environ["COCKPIT_S3_ENV"]).read().splitlines() if "=" in line)
SECRET = S3["S3_AGENT_SECRET_KEY"]
REPLACED = "replaced-secret-" + os.urandom(8).hex()
FRAME = "iframe[name='cockpit1:localhost/dbbackup']"
# Generous waits: the machines running this have 2 cores shared with other builds (load 8 seen).
WAIT = 30000
SLOW = 90000
expect.set_options(timeout=WAIT)

passed = failed = 0


def ok(what):
    global passed
    passed += 1
    print(f"ok   {what}", flush=True)


def bad(what, detail=""):
    global failed
    failed += 1
    print(f"FAIL {what}" + (f": {detail}" if detail else ""), flush=True)


def check(what, condition, detail=""):
    ok(what) if condition else bad(what, detail)


def scenario(title):
    """Runs a scenario; an exception (a Playwright timeout, a failed expect) fails it with its
    message and a screenshot in FAILURES, and the page is reloaded for the next scenario."""
    def wrap(function):
        def run(ui):
            print(f"--- {title}", flush=True)
            started = time.time()
            try:
                function(ui)
            except Exception as error:  # noqa: BLE001 - any failure is reported, the next scenario runs
                shot = os.path.join(FAILURES, f"cockpit-test-failure-{failed + 1}.png")
                try:
                    ui.page.screenshot(path=shot)
                except Exception:  # noqa: BLE001 - the screenshot is a help, not a check
                    shot = "no screenshot"
                bad(f"{title}: stopped", (str(error).splitlines()[0] if str(error) else repr(error)) + f" ({shot})")
                try:
                    ui.page.reload(wait_until="domcontentloaded", timeout=SLOW)
                    expect(ui("#loading")).to_be_hidden(timeout=WAIT)
                except Exception:  # noqa: BLE001
                    pass
            print(f"    ({time.time() - started:.1f} s)", flush=True)
        return run
    return wrap


def container(*argv, stdin=None):
    """A command in the container: (exit status, stdout, stderr)."""
    result = subprocess.run([EXEC, CONTAINER, *argv], input=stdin, capture_output=True, text=True, timeout=180)
    return result.returncode, result.stdout, result.stderr


def cli_json(*args):
    status, out, err = container("dbbackup", *args)
    if status != 0:
        raise AssertionError(f"dbbackup {' '.join(args)}: exit {status}: {err}")
    return json.loads(out)


def stored_secret(name):
    return container("cat", f"/etc/dbbackup/secrets/{name}.secret")[1].strip()


def mask(secret):
    return secret[:4] + "****" if len(secret) >= 8 else "****"


def cli_problem_text(stderr, field):
    """The CLI's own words for FIELD in its text output, as the page shows them beside the field:
    `error: command line: FIELD = VALUE: MESSAGE; FIX` -> `VALUE: MESSAGE; FIX`."""
    for line in stderr.splitlines():
        prefix = f"error: command line: {field}"
        at = line.find(prefix)
        if at >= 0:
            rest = line[at + len(prefix):]
            return rest[3:] if rest.startswith(" = ") else rest[2:]
    return None


class Page:
    """The Cockpit shell and the dbbackup page in it."""

    def __init__(self, page):
        self.page = page
        self.frame = page.frame_locator(FRAME)

    def __call__(self, selector):
        return self.frame.locator(selector)

    def row(self, name):
        return self(f"tr.registration[data-name='{name}']")

    def details(self, name):
        return self(f"tr.details[data-name='{name}']")

    def open_dialog(self, name=None):
        if name:
            self.row(name).locator("button.edit").click()
        else:
            self("#create-registration").click()
        expect(self("#registration-dialog")).to_be_visible()

    def new_daily_filesystem(self, name, times):
        """Opens the dialog for a new registration and fills it in, unsaved: `name`, stored in
        the filesystem at /srv/backups/NAME, daily at `times` (a time field each)."""
        self.open_dialog()
        self("#reg-name").fill(name)
        self("#reg-provider").select_option("filesystem")
        self("#reg-path").fill(f"/srv/backups/{name}")
        self("#reg-schedule").select_option("daily")
        for index, hhmm in enumerate(times):
            if index > 0:
                self("#reg-add-time").click()
            self(f"#reg-time-{index}").fill(hhmm)

    def save_dialog(self, expect_closed=True):
        self("#reg-save").click()
        if expect_closed:
            expect(self("#registration-dialog")).to_be_hidden(timeout=WAIT)
        else:
            expect(self("#reg-spinner")).to_be_hidden(timeout=WAIT)

    def expand(self, name):
        if not self.details(name).is_visible():
            self.row(name).locator("button.toggle").click()
        expect(self.details(name)).to_be_visible()

    def test_output(self, name):
        self.expand(name)
        self.details(name).locator("button.test").click()
        output = self("#test-output")
        expect(output).not_to_have_attribute("data-state", "running", timeout=WAIT)
        text, state = output.inner_text(), output.get_attribute("data-state")
        self("#test-close").click()
        expect(self("#test-dialog")).to_be_hidden()
        return text, state


def login(page):
    page.goto(URL, wait_until="domcontentloaded", timeout=SLOW)
    page.fill("#login-user-input", USER)
    page.fill("#login-password-input", PASSWORD)
    page.click("#login-button")
    page.wait_for_url("**/system", timeout=SLOW, wait_until="domcontentloaded")


@scenario("0. limited access: the page says so; after switching to administrative access it loads")
def limited_access(ui):
    ui.page.goto(URL + "/dbbackup", wait_until="domcontentloaded", timeout=SLOW)
    expect(ui("#access-alert")).to_be_visible(timeout=SLOW)
    ok("with limited access the page asks for administrative access")
    indicator = ui.page.locator("#super-user-indicator")
    expect(indicator).to_contain_text("Limited access")
    indicator.locator("button").click()
    ui.page.fill("#switch-to-admin-access-password", PASSWORD)
    ui.page.click("[role=dialog] button.pf-m-primary")
    expect(indicator).to_contain_text("Administrative access", timeout=WAIT)
    expect(ui("#loading")).to_be_hidden(timeout=WAIT)
    expect(ui("#access-alert")).to_be_hidden()
    expect(ui("#no-registrations")).to_be_visible()
    ok("after the switch the page reloads and lists (no registrations yet)")


@scenario("1. create a filesystem and an S3 registration")
def create_registrations(ui):
    ui.new_daily_filesystem("nightly", ["03:00", "15:30"])
    ui.save_dialog()
    row = ui.row("nightly")
    expect(row).to_be_visible()
    shown = cli_json("registration", "show", "nightly", "--json")
    check("nightly is stored as given (registration show --json)",
          shown["provider"] == "filesystem" and shown["path"] == "/srv/backups/nightly"
          and shown["schedule"] == {"type": "daily", "times": ["03:00", "15:30"]}, json.dumps(shown))
    status = {s["name"]: s for s in cli_json("status", "--json")}
    expect(row.locator(".schedule")).to_have_text(status["nightly"]["schedule_summary"])
    expect(row.locator(".destination")).to_have_text("/srv/backups/nightly")
    icon = row.locator("img.provider-icon")
    check("nightly: a blue folder icon", icon.get_attribute("data-provider") == "filesystem"
          and icon.get_attribute("src") == "folder.svg", icon.get_attribute("src"))
    expect(row.locator(".next-run")).not_to_have_text("not scheduled")
    check("nightly: next run shown (systemd's timer)", status["nightly"]["next_run"] is not None
          and row.locator(".next-run").inner_text().strip() != "", status["nightly"])
    expect(row.locator(".last-success")).to_have_text("never")

    ui.open_dialog()
    ui("#reg-name").fill("offsite")
    ui("#reg-provider").select_option("s3")
    ui("#reg-preset").select_option("b2")
    check("preset Backblaze B2 fills its endpoint and region",
          ui("#reg-endpoint").input_value() == "https://s3.us-west-004.backblazeb2.com"
          and ui("#reg-region").input_value() == "us-west-004" and not ui("#reg-force-path-style").is_checked(),
          ui("#reg-endpoint").input_value())
    ui("#reg-region").fill("eu-central-003")
    check("the B2 endpoint follows the region", ui("#reg-endpoint").input_value() == "https://s3.eu-central-003.backblazeb2.com",
          ui("#reg-endpoint").input_value())
    ui("#reg-preset").select_option("spaces")
    ui("#reg-region").fill("fra1")
    check("preset DigitalOcean Spaces", ui("#reg-endpoint").input_value() == "https://fra1.digitaloceanspaces.com",
          ui("#reg-endpoint").input_value())
    ui("#reg-preset").select_option("aws")
    check("preset AWS: empty endpoint, no path style", ui("#reg-endpoint").input_value() == ""
          and not ui("#reg-force-path-style").is_checked())
    ui("#reg-preset").select_option("minio")
    check("preset MinIO: its endpoint and path style", ui("#reg-endpoint").input_value() == "http://minio-host:9000"
          and ui("#reg-force-path-style").is_checked(), ui("#reg-endpoint").input_value())
    ui("#reg-endpoint").fill(S3["S3_ENDPOINT"])
    ui("#reg-region").fill(S3["S3_REGION"])
    ui("#reg-bucket").fill(S3["S3_BUCKET"])
    ui("#reg-prefix").fill("cockpit/")
    ui("#reg-access-key").fill(S3["S3_AGENT_ACCESS_KEY"])
    check("the secret field hides what is typed", ui("#reg-secret").get_attribute("type") == "password")
    ui("#reg-secret").fill(SECRET)
    ui("#reg-schedule").select_option("weekly")
    ui("#reg-time-0").fill("04:00")
    ui("#reg-weekdays input[value=sun]").check()
    ui("#reg-weekdays input[value=wed]").check()
    ui("#reg-timezone").fill("Europe/Prague")
    ui.save_dialog()
    row = ui.row("offsite")
    expect(row).to_be_visible()
    shown = cli_json("registration", "show", "offsite", "--json")
    check("offsite is stored as given", shown["provider"] == "s3" and shown["bucket"] == S3["S3_BUCKET"]
          and shown["endpoint"] == S3["S3_ENDPOINT"] and shown["force_path_style"] is True and shown["prefix"] == "cockpit/"
          and shown["schedule"] == {"type": "weekly", "times": ["04:00"], "weekdays": ["wed", "sun"], "timezone": "Europe/Prague"},
          json.dumps({k: v for k, v in shown.items() if k != "secret_key"}))
    check("the secret went to the CLI (stored file holds it)", stored_secret("offsite") == SECRET)
    check("the CLI shows it masked", shown["secret_key"] == mask(SECRET), shown["secret_key"])
    icon = row.locator("img.provider-icon")
    check("offsite: a green cloud icon", icon.get_attribute("data-provider") == "s3" and icon.get_attribute("src") == "cloud.svg")
    expect(row.locator(".destination")).to_have_text(f"s3://{S3['S3_BUCKET']}/cockpit/ at {S3['S3_ENDPOINT']}")
    status = {s["name"]: s for s in cli_json("status", "--json")}
    expect(row.locator(".schedule")).to_have_text(status["offsite"]["schedule_summary"])
    ok(f"the list shows the CLI's schedule in words: {status['offsite']['schedule_summary']!r}")

    # The edit dialog shows only the mask; it is the dialog in the README.
    ui.open_dialog("offsite")
    expect(ui("#reg-secret")).to_have_value(mask(SECRET))
    check("the edit dialog shows the mask as text", ui("#reg-secret").get_attribute("type") == "text")
    check("the name cannot be changed in an edit", ui("#reg-name").is_disabled())
    ui.page.screenshot(path=os.path.join(SCREENSHOTS, "cockpit-dialog.png"))
    ok(f"screenshot {os.path.join(SCREENSHOTS, 'cockpit-dialog.png')}")
    ui("#reg-cancel").click()


@scenario("2. re-save with the mask: the stored secret is kept")
def resave_with_mask(ui):
    ui.open_dialog("offsite")
    ui.save_dialog()
    check("saved unchanged: the stored secret is the same", stored_secret("offsite") == SECRET)
    ui.open_dialog("offsite")
    ui("#reg-prefix").fill("cockpit2/")
    ui.save_dialog()
    shown = cli_json("registration", "show", "offsite", "--json")
    check("another field changed, the mask left: prefix changed, secret kept",
          shown["prefix"] == "cockpit2/" and stored_secret("offsite") == SECRET, shown["prefix"])
    text, state = ui.test_output("offsite")
    check("Test: the kept secret works against the store (registration test output)",
          state == "ok" and "the store works" in text and "FAIL" not in text, text)


@scenario("3. replace the secret: clear the field and type a new one")
def replace_secret(ui):
    ui.open_dialog("offsite")
    ui("#reg-secret").fill("")
    ui("#reg-secret").type(REPLACED)
    check("a typed secret is hidden", ui("#reg-secret").get_attribute("type") == "password")
    ui.save_dialog()
    check("the stored secret is the new one", stored_secret("offsite") == REPLACED)
    check("the CLI shows the new mask", cli_json("registration", "show", "offsite", "--json")["secret_key"] == mask(REPLACED))
    ui.open_dialog("offsite")
    expect(ui("#reg-secret")).to_have_value(mask(REPLACED))
    ui("#reg-cancel").click()
    text, state = ui.test_output("offsite")
    check("Test with the wrong secret shows the store's refusal (FAIL)", state == "failed" and "FAIL" in text, text)
    # Back to the working key, for the S3 backup below.
    ui.open_dialog("offsite")
    ui("#reg-secret").fill(SECRET)
    ui.save_dialog()
    check("replaced again with the real secret", stored_secret("offsite") == SECRET)


@scenario("4. an invalid time and an invalid bucket: the CLI's message beside the field")
def invalid_input(ui):
    ui.new_daily_filesystem("broken", ["02:00", "25:00"])
    ui.save_dialog(expect_closed=False)
    expect(ui("#registration-dialog")).to_be_visible()
    _, _, err = container("dbbackup", "registration", "add", "broken", "--provider", "filesystem", "--path", "/srv/backups/broken",
                          "--schedule", "daily", "--time", "02:00", "--time", "25:00")
    expected = cli_problem_text(err, "--time[1]")
    shown = ui("#reg-time-1-message").inner_text().strip()
    check("the second time field shows the CLI's message", expected is not None and shown == expected,
          f"page {shown!r}, CLI {expected!r}")
    check("the first time field shows none", ui("#reg-time-0-message").inner_text().strip() == "")
    check("the time input is marked invalid", ui("#reg-time-1").get_attribute("aria-invalid") == "true")

    ui("#reg-time-1").fill("14:00")
    ui("#reg-provider").select_option("s3")
    ui("#reg-preset").select_option("minio")
    ui("#reg-endpoint").fill(S3["S3_ENDPOINT"])
    ui("#reg-bucket").fill("b!")  # invalid everywhere (a legacy name like Bad_Bucket is only a warning)
    ui("#reg-access-key").fill("AKIAEXAMPLE")
    ui("#reg-secret").fill("not-a-real-secret-1")
    ui.save_dialog(expect_closed=False)
    _, _, err = container("sh", "-c", "echo not-a-real-secret-1 | dbbackup registration add broken --provider s3 --bucket 'b!' "
                          f"--endpoint {S3['S3_ENDPOINT']} --force-path-style --access-key AKIAEXAMPLE --secret-key-stdin "
                          "--schedule daily --time 02:00 --time 14:00")
    expected = cli_problem_text(err, "--bucket")
    bucket = ui("#registration-form .field[data-field=bucket] .field-message")
    shown = bucket.inner_text().strip()
    check("the bucket field shows the CLI's message", expected is not None and shown == expected, f"page {shown!r}, CLI {expected!r}")
    check("no time message is left", ui("#reg-time-1-message").inner_text().strip() == "")
    ui("#reg-cancel").click()
    check("nothing was stored for 'broken'", container("test", "-e", "/etc/dbbackup/registrations.d/broken.toml")[0] != 0)


@scenario("5. retention: limits, the 0 warning, unlimited")
def retention(ui):
    local, remote = ui("#retention-local"), ui("#retention-remote")
    stored = cli_json("retention", "show", "--json")
    expect(local).to_have_value(str(stored["local"]))
    expect(remote).to_have_value(str(stored["remote"]))
    ok(f"the fields show the CLI's retention: local {stored['local']}, remote {stored['remote']}")
    local.fill("0")
    ui("#retention-save").click()
    expect(ui("#retention-local-message .warning")).to_be_visible(timeout=WAIT)
    _, out, _ = container("dbbackup", "config", "check")
    line = next((line for line in out.splitlines() if "retention.local = 0" in line), "")
    shown = ui("#retention-local-message").inner_text().strip()
    check("0 local: the CLI's warning beside the field", shown and line.endswith(shown), f"page {shown!r}, CLI {line!r}")
    check("retention show --json: local 0", cli_json("retention", "show", "--json")["local"] == 0)
    local.fill("16")
    ui("#retention-save").click()
    expect(ui("#retention-local-message .error")).to_be_visible(timeout=WAIT)
    _, _, err = container("dbbackup", "retention", "set", "--local", "16")
    shown = ui("#retention-local-message").inner_text().strip()
    check("16 local: the CLI's error beside the field", shown == cli_problem_text(err, "--local"), f"page {shown!r}, CLI {err!r}")
    check("16 was not stored", cli_json("retention", "show", "--json")["local"] == 0)
    local.fill("5")
    ui("#retention-unlimited").check()
    check("unlimited disables the number", remote.is_disabled())
    ui("#retention-save").click()
    expect(ui("#retention-result")).to_contain_text("retention: local 5, remote unlimited", timeout=WAIT)
    check("retention show --json: local 5, remote unlimited", cli_json("retention", "show", "--json") == {"local": 5, "remote": "unlimited"})
    expect(ui("#retention-remote-message .warning")).to_be_visible()
    ok("remote unlimited: the CLI's warning that nothing is cleaned up")
    ui("#retention-unlimited").uncheck()
    remote.fill("30")
    ui("#retention-save").click()
    expect(ui("#retention-result")).to_contain_text("remote 30", timeout=WAIT)
    check("retention show --json: local 5, remote 30", cli_json("retention", "show", "--json") == {"local": 5, "remote": 30})
    expect(ui("#retention-local-message")).to_be_empty()
    expect(ui("#retention-remote-message")).to_be_empty()


@scenario("6. back up now: the unit runs, its status shows, the backup appears in the list")
def back_up_now(ui):
    for name in ["nightly", "offsite"]:
        ui.expand(name)
        details = ui.details(name)
        expect(details.locator("tr.backup")).to_have_count(0)
        details.locator("button.backup-now").click()
        expect(details.locator("tr.backup")).to_have_count(1, timeout=SLOW)
        backups = cli_json("list", name, "--json")
        check(f"{name}: the CLI lists one backup, the page shows it", len(backups) == 1
              and details.locator("tr.backup").get_attribute("data-id") == str(backups[0]["id"]), json.dumps(backups))
        progress = details.locator(".progress")
        expect(progress).to_have_class(re.compile(r"\bsucceeded\b"))
        status, out, _ = container("systemctl", "show", "-P", "StatusText", f"dbbackup@{name}.service")
        check(f"{name}: the page shows how the unit ended, from its StatusText ({out.strip()!r})",
              out.strip() != "" and out.strip() in progress.inner_text(), progress.inner_text())
        check(f"{name}: started as a unit (trigger timer, as systemctl start records it)", backups[0]["trigger"] == "timer", backups[0]["trigger"])
        expect(ui.row(name).locator(".last-success")).not_to_have_text("never")
    location = cli_json("list", "offsite", "--json")[0]["location"]
    check("the S3 backup is in the bucket under the prefix", location.startswith(f"s3://{S3['S3_BUCKET']}/cockpit2/db_v7_"), location)
    ui.page.screenshot(path=os.path.join(SCREENSHOTS, "cockpit-registrations.png"))
    ok(f"screenshot {os.path.join(SCREENSHOTS, 'cockpit-registrations.png')}")


@scenario("7. restore to a path: verified by the CLI")
def restore(ui):
    details = ui.details("nightly")
    backup = cli_json("list", "nightly", "--json")[0]
    details.locator(f"tr.backup[data-id='{backup['id']}'] button.restore").click()
    expect(ui("#restore-dialog")).to_be_visible()
    ui("#restore-path").fill("/srv/restored/app.db")
    ui("#restore-confirm").click()
    # No directory /srv/restored yet: restore refuses, in its words, beside the path.
    expect(ui("#restore-path-message")).not_to_be_empty(timeout=WAIT)
    _, _, err = container("dbbackup", "restore", str(backup["id"]), "--to", "/srv/restored/app.db")
    shown = ui("#restore-path-message").inner_text().strip()
    check("a missing directory: the CLI's message under the path", shown and shown in err, f"page {shown!r}, CLI {err!r}")
    container("mkdir", "-p", "/srv/restored")
    ui("#restore-confirm").click()
    expect(ui("#restore-result")).to_be_visible(timeout=WAIT)
    expect(ui("#restore-result")).to_contain_text(f"restored backup {backup['id']}")
    version = container("sqlite3", "/srv/restored/app.db", "pragma user_version")[1].strip()
    rows = container("sqlite3", "/srv/restored/app.db", "select count(*) from t")[1].strip()
    check("the restored database is the application's (schema version 7, its row)", version == "7" and rows == "1", f"{version} {rows}")
    ui("#restore-confirm").click()
    expect(ui("#restore-path-message")).to_contain_text("exists", timeout=WAIT)
    ok("restoring over an existing file without 'replace' is refused by the CLI")
    ui("#restore-force").check()
    ui("#restore-confirm").click()
    expect(ui("#restore-result")).to_be_visible(timeout=WAIT)
    expect(ui("#restore-path-message")).to_be_empty()
    ok("with 'replace' (--force) it is restored")
    ui("#restore-cancel").click()


@scenario("the status banner: dbbackup status --check --json")
def banner(ui):
    status, help_text, _ = container("dbbackup", "status", "--help")
    if "--check" not in help_text:
        check("this dbbackup has no status --check: no banner", not ui("#status-banner").is_visible())
        print("    (status --check is not in this dbbackup: the banner was not asserted)", flush=True)
        return
    ui.page.reload(wait_until="domcontentloaded", timeout=SLOW)
    expect(ui("#loading")).to_be_hidden(timeout=WAIT)
    _, out, _ = container("dbbackup", "status", "--check", "--json")
    report = json.loads(out)
    expect(ui("#status-banner")).to_be_visible()
    expect(ui("#status-banner")).to_have_attribute("data-status", report["status"])
    # The summary says how long ago each success was ("6s ago"): the page computed it a moment
    # before this command did, so those numbers may differ; everything else must not.
    parts = re.split(r"\d+(?=[smhd] ago)", report["summary"])
    expect(ui("#status-summary")).to_have_text(re.compile("^" + r"\d+".join(re.escape(part) for part in parts) + "$"))
    ok(f"the banner shows {report['status']}: {report['summary']}")


@scenario("delete: asks, says the backups are kept, keeps them")
def delete(ui):
    ui.row("nightly").locator("button.delete").click()
    expect(ui("#delete-dialog")).to_be_visible()
    expect(ui("#delete-text")).to_contain_text("backups are kept")
    expect(ui("#delete-text")).to_contain_text("1 backup in /srv/backups/nightly")
    ui("#delete-cancel").click()
    check("cancel keeps it", container("test", "-f", "/etc/dbbackup/registrations.d/nightly.toml")[0] == 0)
    ui.row("nightly").locator("button.delete").click()
    ui("#delete-confirm").click()
    expect(ui.row("nightly")).to_have_count(0, timeout=WAIT)
    expect(ui("#notice")).to_contain_text("its backups are kept")
    names = [r["name"] for r in cli_json("registration", "list", "--json")]
    check("the CLI no longer lists nightly", "nightly" not in names, names)
    check("its backup is still recorded and on disk", len(cli_json("list", "nightly", "--json")) == 1
          and container("sh", "-c", "ls /srv/backups/nightly/db_v7_*.db")[0] == 0)


def main():
    os.makedirs(SCREENSHOTS, exist_ok=True)
    frames, sent, bodies, unread, csp = [], [], [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1150})
        context.set_default_timeout(WAIT)
        page = context.new_page()

        def text(payload):
            return payload if isinstance(payload, str) else payload.decode("utf-8", "replace")

        def on_websocket(socket):
            socket.on("framereceived", lambda payload: frames.append(text(payload)))
            socket.on("framesent", lambda payload: sent.append(text(payload)))
            if os.environ.get("COCKPIT_DEBUG_FRAMES"):
                socket.on("framereceived", lambda f: print("recv", time.time(), str(f)[:300].replace("\n", "|")) if "dbbackup" in str(f) or '"exit-status"' in str(f) or '"ready"' in str(f) else None)
                socket.on("framesent", lambda f: print("sent", time.time(), str(f)[:300].replace("\n", "|")) if "dbbackup" in str(f) or '"done"' in str(f) else None)

        def on_response(response):
            try:
                bodies.append((response.url, response.body().decode("utf-8", "replace")))
            except Exception:  # noqa: BLE001 - redirects and aborted requests have no body
                unread.append(response.url)

        page.on("websocket", on_websocket)
        page.on("response", on_response)
        page.on("console", lambda message: csp.append(message.text) if "Content Security Policy" in message.text else None)
        login(page)
        ui = Page(page)
        for run in [limited_access, create_registrations, resave_with_mask, replace_secret, invalid_input,
                    retention, back_up_now, restore, banner, delete]:
            run(ui)
        browser.close()

    print("--- what the browser received", flush=True)
    check(f"websocket frames were captured ({len(frames)})", len(frames) > 100)
    check(f"the CLI's masked JSON passed through them", any(mask(SECRET) in frame for frame in frames))
    for label, secret in [("the S3 secret", SECRET), ("the replaced secret", REPLACED)]:
        tail = secret[4:]  # all but the four characters the mask shows
        check(f"{label} is in no websocket frame the browser received", not any(tail in frame for frame in frames))
        check(f"{label} is in no HTTP response body ({len(bodies)} read, {len(unread)} without a body)",
              not any(tail in body for _, body in bodies))
    # What the browser sent: each command's argv is in the "open" message of its channel, its
    # standard input in the channel's data messages.
    opens = [frame for frame in sent if '"command":"open"' in frame and '"spawn"' in frame]
    check(f"the page opened its commands with argv ({len(opens)} spawns)", any('"dbbackup"' in frame for frame in opens))
    for label, secret in [("the S3 secret", SECRET), ("the replaced secret", REPLACED)]:
        check(f"{label} is in no command line the page ran", not any(secret[4:] in frame for frame in opens))
        check(f"{label} went to the CLI as standard input (a data message)",
              any(secret in frame and '"command"' not in frame for frame in sent))
    check("no Content-Security-Policy violation", not csp, "; ".join(csp[:3]))
    print(f"cockpit-browser: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
