/*
 * dbbackup in Cockpit.
 *
 * This page is a face for the dbbackup command line and nothing else. It reads with
 *     dbbackup registration list --json, status --json, status --check --json,
 *     list NAME --json, retention show --json, config check --json
 * and changes things with
 *     dbbackup registration add|edit|remove --json, retention set --json,
 *     dbbackup restore ID --to PATH, dbbackup registration test NAME,
 *     systemctl start --no-block dbbackup@NAME.service
 * each through cockpit.spawn as root (superuser "require"), argv only, no shell. No rule of
 * dbbackup's is repeated here: what is valid is what the command line accepts, and the problems
 * it reports with --json (by field, in its own words) are shown beside the field they name.
 *
 * The S3 secret key is write-only. The page only ever holds the mask the command line prints
 * (`mini****`). Whatever is in the secret field goes to the command line on standard input
 * (`--secret-key-stdin`), never into argv. The mask left as it is keeps the stored secret (the
 * command line's own rule for a masked value); clearing the field and typing replaces it.
 */
(function () {
    "use strict";

    const $ = (id) => document.getElementById(id);

    // --- running commands -----------------------------------------------------------------

    /**
     * Runs argv as root. Resolves {status, stdout, stderr} whatever the exit status; rejects
     * only when the command could not run at all (no administrative access, not installed).
     * Standard input is closed at once, after `input` if given.
     */
    function run(argv, input) {
        return new Promise((resolve, reject) => {
            const process = cockpit.spawn(argv, { superuser: "require", err: "message", directory: "/" });
            process.then(
                (stdout, stderr) => resolve({ status: 0, stdout: stdout || "", stderr: stderr || "" }),
                (error, stdout) => {
                    if (error.problem) {
                        reject(error);
                    } else {
                        resolve({ status: error.exit_status ?? -1, stdout: stdout || "", stderr: error.message || "" });
                    }
                });
            process.input(input === undefined ? null : input);
        });
    }

    const dbbackup = (args, input) => run(["dbbackup", ...args], input);

    /** The JSON a command printed; an Error carrying its stderr when it failed. */
    function json(result, command) {
        if (result.status !== 0 && !result.stdout.trim().startsWith("{")) {
            throw new Error(cleanError(result.stderr) || `${command} exited with status ${result.status}`);
        }
        try {
            return JSON.parse(result.stdout);
        } catch (e) {
            throw new Error(`${command} printed no JSON: ${result.stderr || result.stdout}`);
        }
    }

    /** stderr as a person reads it: without the "dbbackup: " each error line starts with. */
    function cleanError(text) {
        return (text || "").split("\n").map(line => line.replace(/^dbbackup: /, "")).join("\n").trim();
    }

    // --- small DOM helpers (text only: nothing from a command is ever parsed as HTML) ------

    function el(tag, attributes, ...children) {
        const node = document.createElement(tag);
        for (const [key, value] of Object.entries(attributes || {})) {
            if (value === undefined || value === null || value === false) continue;
            if (key === "class") node.className = value;
            else if (key === "text") node.textContent = value;
            else if (key.startsWith("data-")) node.setAttribute(key, value);
            else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
            else node.setAttribute(key, value === true ? "" : value);
        }
        for (const child of children.flat()) {
            if (child === null || child === undefined || child === false) continue;
            node.append(child instanceof Node ? child : document.createTextNode(String(child)));
        }
        return node;
    }

    function when(iso) {
        if (!iso) return "";
        const date = new Date(iso);
        return isNaN(date) ? iso : date.toLocaleString();
    }

    function size(bytes) {
        if (bytes === null || bytes === undefined) return "";
        const units = ["B", "KiB", "MiB", "GiB", "TiB"];
        let value = bytes;
        let unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
    }

    /** Where a registration's backups go, as `dbbackup registration list` words it. */
    function destination(registration) {
        if (registration.provider === "s3") {
            return `s3://${registration.bucket}/${registration.prefix || ""}` + (registration.endpoint ? ` at ${registration.endpoint}` : "");
        }
        return registration.resolved_path || registration.path || "";
    }

    /** A problem as the command line prints it, without severity and file. */
    function problemText(problem, withField) {
        let text = "";
        if (withField && problem.field) text += problem.field;
        if (problem.value !== null && problem.value !== undefined) text += (text ? " = " : "") + problem.value;
        text += (text ? ": " : "") + problem.message;
        if (problem.fix) text += "; " + problem.fix;
        return text;
    }

    // --- state ------------------------------------------------------------------------------

    const state = {
        registrations: [], // registration list --json, each with .status from status --json
        expanded: new Set(),
        backups: {}, // name -> {list} | {error}
        running: {}, // service unit -> {name, text, seenActive, before, since}
        outcomes: {}, // name -> {kind, text}: how the last "Back up now" ended
        retentionDirty: false,
    };

    // --- loading ----------------------------------------------------------------------------

    let refreshing = null;

    function refresh() {
        if (!refreshing) {
            refreshing = load().finally(() => { refreshing = null });
        }
        return refreshing;
    }

    async function load() {
        let list, status, retention, check, config;
        try {
            [list, status, retention, check, config] = await Promise.all([
                dbbackup(["registration", "list", "--json"]),
                dbbackup(["status", "--json"]),
                dbbackup(["retention", "show", "--json"]),
                dbbackup(["status", "--check", "--json"]),
                dbbackup(["config", "check", "--json"]),
            ]);
        } catch (error) {
            $("loading").hidden = true;
            if (error.problem === "access-denied") {
                $("access-alert").hidden = false;
            } else {
                showLoadError(error.problem === "not-found"
                    ? "dbbackup is not installed on this system (no dbbackup command found)."
                    : cockpit.message(error));
            }
            return;
        }
        $("access-alert").hidden = true;
        $("loading").hidden = true;
        const errors = [];
        let registrations = [];
        let statuses = [];
        try { registrations = json(list, "dbbackup registration list") } catch (e) { errors.push(e.message) }
        try { statuses = json(status, "dbbackup status") } catch (e) { errors.push(e.message) }
        const byName = Object.fromEntries(statuses.map(s => [s.name, s]));
        state.registrations = registrations.map(r => ({ ...r, status: byName[r.name] || {} }));
        showLoadError(errors.join("\n"));

        renderBanner(check);
        const configReport = safeJSON(config);
        renderConfigProblems(configReport);
        renderRetention(retention, configReport);
        renderRegistrations();
        for (const name of state.expanded) loadBackups(name);
        watchRunningUnits();
    }

    function safeJSON(result) {
        try { return JSON.parse(result.stdout) } catch (e) { return null }
    }

    function showLoadError(text) {
        $("load-error").textContent = text || "";
        $("load-error").hidden = !text;
    }

    // --- status banner: `dbbackup status --check --json` ------------------------------------

    /** Exit status 0-3 with {status, summary, problems}; anything else (an older dbbackup
     *  without --check) shows no banner. */
    function renderBanner(result) {
        const banner = $("status-banner");
        const report = [0, 1, 2, 3].includes(result.status) ? safeJSON(result) : null;
        if (!report || typeof report.status !== "string") {
            banner.hidden = true;
            return;
        }
        const kinds = { ok: "alert-success", warning: "alert-warning", critical: "alert-danger", unknown: "alert-info" };
        banner.className = "alert " + (kinds[report.status] || "alert-info");
        banner.dataset.status = report.status;
        $("status-summary").textContent = report.summary || report.status;
        $("status-problems").replaceChildren(...(report.problems || []).map(problem =>
            el("li", { "data-severity": problem.severity }, (problem.registration ? `${problem.registration}: ` : "") + problem.message)));
        banner.hidden = false;
    }

    // --- configuration problems: `dbbackup config check --json` ---------------------------

    const isRetentionProblem = (problem) => /^retention\./.test(problem.field || "");

    function renderConfigProblems(report) {
        const problems = (report && report.problems || []).filter(p => !isRetentionProblem(p));
        $("config-problem-list").replaceChildren(...problems.map(problem =>
            el("li", { class: problem.severity, "data-severity": problem.severity },
               `${problem.severity}: ${problem.file}: ${problemText(problem, true)}`)));
        const section = $("config-problems");
        section.className = "alert " + (problems.some(p => p.severity === "error") ? "alert-danger" : "alert-warning");
        section.hidden = problems.length === 0;
    }

    // --- registrations ----------------------------------------------------------------------

    function renderRegistrations() {
        const rows = [];
        for (const registration of state.registrations) {
            rows.push(registrationRow(registration));
            if (state.expanded.has(registration.name)) rows.push(detailsRow(registration));
        }
        $("registration-rows").replaceChildren(...rows);
        $("no-registrations").hidden = state.registrations.length > 0;
    }

    function registrationRow(registration) {
        const status = registration.status;
        const s3 = registration.provider === "s3";
        const expanded = state.expanded.has(registration.name);
        const running = Object.values(state.running).find(r => r.name === registration.name);
        let nextRun = when(status.next_run);
        if (!nextRun) nextRun = status.timer ? "not scheduled" : "on migration";
        const success = status.last_success;
        const failure = status.last_failure;
        const failedLast = failure && (!success || new Date(failure.at) >= new Date(success.created_at));
        return el("tr", { class: "registration", "data-name": registration.name },
            el("td", { class: "col-icon" },
               el("img", { class: "provider-icon", src: s3 ? "cloud.svg" : "folder.svg", alt: registration.provider,
                           title: s3 ? "S3 bucket" : "directory", "data-provider": registration.provider })),
            el("td", { class: "name" },
               el("button", { type: "button", class: "link toggle", "aria-expanded": String(expanded),
                              onclick: () => toggle(registration.name) },
                  el("span", { class: "caret", "aria-hidden": "true" }, expanded ? "▾" : "▸"), " ", registration.name),
               running ? el("span", { class: "badge running" }, "running") : null),
            el("td", { class: "schedule" }, status.schedule_summary || registration.schedule?.type || ""),
            el("td", { class: "destination" }, destination(registration)),
            el("td", { class: "next-run", title: status.next_run || "" }, nextRun),
            el("td", { class: "last-success", title: success ? success.location : "" }, success ? when(success.created_at) : "never"),
            el("td", { class: "last-failure" + (failedLast ? " failed" : ""), title: failure ? failure.error : "" },
               failure ? [when(failure.at), el("div", { class: "error-text" }, failure.error)] : "—"),
            el("td", { class: "actions" },
               el("button", { type: "button", class: "btn btn-secondary btn-sm edit", onclick: () => openRegistrationDialog(registration) }, "Edit"),
               " ",
               el("button", { type: "button", class: "btn btn-link btn-sm btn-danger-link delete", onclick: () => openDeleteDialog(registration) }, "Remove")));
    }

    function detailsRow(registration) {
        const service = registration.status.service;
        const running = state.running[service];
        const outcome = state.outcomes[registration.name];
        const backups = state.backups[registration.name];
        let body;
        if (!backups) {
            body = el("p", { class: "empty" }, "Loading backups…");
        } else if (backups.error) {
            body = el("p", { class: "error-text" }, backups.error);
        } else if (backups.list.length === 0) {
            body = el("p", { class: "empty" }, "No stored backups yet.");
        } else {
            body = el("table", { class: "table backups" },
                el("thead", {}, el("tr", {}, ["ID", "Created", "Schema version", "Size", "Trigger", "Location", ""].map(h => el("th", {}, h)))),
                el("tbody", {}, backups.list.slice().reverse().map(backup =>
                    el("tr", { class: "backup", "data-id": String(backup.id) },
                       el("td", {}, String(backup.id)),
                       el("td", { title: backup.created_at }, when(backup.created_at)),
                       el("td", {}, backup.version === null ? "" : String(backup.version)),
                       el("td", { title: backup.sha256 ? `sha256 ${backup.sha256}` : "" }, size(backup.size)),
                       el("td", {}, backup.trigger),
                       el("td", { class: "location" }, backup.location || ""),
                       el("td", { class: "actions" },
                          el("button", { type: "button", class: "btn btn-secondary btn-sm restore",
                                         onclick: () => openRestoreDialog(registration, backup) }, "Restore to…"))))));
        }
        return el("tr", { class: "details", "data-name": registration.name },
            el("td", { colspan: "8" },
               el("div", { class: "toolbar" },
                  el("button", { type: "button", class: "btn btn-primary btn-sm backup-now", disabled: !!running || !service,
                                 onclick: () => backUpNow(registration) }, "Back up now"),
                  el("button", { type: "button", class: "btn btn-secondary btn-sm test", onclick: () => testRegistration(registration) }, "Test"),
                  el("span", { class: "progress" + (outcome && !running ? " " + outcome.kind : ""), "data-unit": service || "" },
                     running ? `${service}: ${running.text}` : (outcome ? outcome.text : ""))),
               el("h3", {}, "Backups"),
               body));
    }

    function toggle(name) {
        if (state.expanded.has(name)) {
            state.expanded.delete(name);
        } else {
            state.expanded.add(name);
            loadBackups(name);
        }
        renderRegistrations();
    }

    async function loadBackups(name) {
        let entry;
        try {
            const result = await dbbackup(["list", name, "--json"]);
            entry = { list: json(result, `dbbackup list ${name}`) };
        } catch (error) {
            entry = { error: error.message || cockpit.message(error) };
        }
        state.backups[name] = entry;
        renderRegistrations();
    }

    // --- back up now: systemctl start --no-block, progress from the unit's StatusText -------

    const unitProperties = ["Id", "ActiveState", "SubState", "Result", "StatusText",
        "InactiveExitTimestampMonotonic", "ConditionTimestampMonotonic"];

    /** `systemctl show` of several units at once: {unit: {Property: value}}. */
    async function unitStates(units) {
        if (units.length === 0) return {};
        const result = await run(["systemctl", "show", ...unitProperties.map(p => `--property=${p}`), "--", ...units]);
        const states = {};
        for (const block of result.stdout.split("\n\n")) {
            const properties = {};
            for (const line of block.split("\n")) {
                const at = line.indexOf("=");
                if (at > 0) properties[line.slice(0, at)] = line.slice(at + 1);
            }
            if (properties.Id) states[properties.Id] = properties;
        }
        return states;
    }

    const isActive = (unit) => ["activating", "active", "deactivating", "reloading"].includes(unit.ActiveState);
    const startStamp = (unit) => `${unit.InactiveExitTimestampMonotonic}/${unit.ConditionTimestampMonotonic}`;

    async function backUpNow(registration) {
        const service = registration.status.service;
        delete state.outcomes[registration.name];
        const before = (await unitStates([service]))[service] || {};
        state.running[service] = { name: registration.name, text: "starting…", seenActive: false, before: startStamp(before), since: Date.now() };
        renderRegistrations();
        const started = await run(["systemctl", "start", "--no-block", service]);
        if (started.status !== 0) {
            delete state.running[service];
            state.outcomes[registration.name] = { kind: "failed", text: `systemctl start ${service} failed: ${started.stderr}` };
            renderRegistrations();
            return;
        }
        watchRunningUnits();
    }

    let watching = false;

    /** Polls every unit that is running (or was just started) until it has finished, showing
     *  its StatusText ("nightly: snapshot 45%"), then reloads the status and its backups. */
    async function watchRunningUnits() {
        if (watching) return;
        watching = true;
        try {
            // Runs started elsewhere (a timer, a deploy) show too.
            const services = state.registrations.map(r => r.status.service).filter(Boolean);
            const initial = await unitStates(services);
            for (const registration of state.registrations) {
                const unit = initial[registration.status.service];
                if (unit && isActive(unit) && !state.running[unit.Id]) {
                    state.running[unit.Id] = { name: registration.name, text: unit.StatusText || unit.SubState, seenActive: true, before: "", since: Date.now() };
                }
            }
            while (Object.keys(state.running).length > 0) {
                const states = await unitStates(Object.keys(state.running));
                const finished = [];
                for (const [service, running] of Object.entries(state.running)) {
                    const unit = states[service] || {};
                    if (isActive(unit)) {
                        running.seenActive = true;
                        running.text = unit.StatusText || `${unit.ActiveState} (${unit.SubState})`;
                    } else if (running.seenActive || startStamp(unit) !== running.before) {
                        // The unit's last STATUS= says how the run ended ("done: nightly stored").
                        const ok = unit.Result === "success";
                        state.outcomes[running.name] = {
                            kind: ok ? "succeeded" : "failed",
                            text: ok ? `✔ ${unit.StatusText || "finished"}` : `✖ failed (${unit.Result})${unit.StatusText ? ": " + unit.StatusText : ""}`,
                        };
                        finished.push(service);
                    } else if (Date.now() - running.since > 60000) {
                        state.outcomes[running.name] = { kind: "failed", text: `${service} did not start; see journalctl -u '${service}'` };
                        finished.push(service);
                    }
                }
                for (const service of finished) {
                    const name = state.running[service].name;
                    delete state.running[service];
                    state.expanded.add(name);
                }
                renderRegistrations();
                if (finished.length > 0) await refresh();
                if (Object.keys(state.running).length > 0) await new Promise(resolve => setTimeout(resolve, 500));
            }
        } finally {
            watching = false;
        }
    }

    // --- registration test ------------------------------------------------------------------

    async function testRegistration(registration) {
        const output = $("test-output");
        $("test-dialog-title").textContent = `Test ${registration.name}`;
        output.replaceChildren(el("span", { class: "running" }, `dbbackup registration test ${registration.name} …`));
        output.dataset.state = "running";
        $("test-dialog").showModal();
        let result;
        try {
            result = await dbbackup(["registration", "test", registration.name]);
        } catch (error) {
            result = { status: -1, stdout: "", stderr: cockpit.message(error) };
        }
        const lines = (result.stdout + (result.stderr ? "\n" + cleanError(result.stderr) : "")).trim().split("\n");
        output.replaceChildren(...lines.map(line =>
            el("div", { class: line.startsWith("FAIL") ? "fail" : line.startsWith("ok") ? "ok" : "" }, line)));
        output.dataset.state = result.status === 0 ? "ok" : "failed";
    }

    // --- create / edit ----------------------------------------------------------------------

    /** Endpoint and path style of the stores SPEC names; {region} is the region field. */
    const presets = {
        aws: { endpoint: "", forcePathStyle: false, region: "us-east-1" },
        minio: { endpoint: "http://minio-host:9000", forcePathStyle: true, region: "" },
        spaces: { endpoint: "https://{region}.digitaloceanspaces.com", forcePathStyle: false, region: "fra1" },
        b2: { endpoint: "https://s3.{region}.backblazeb2.com", forcePathStyle: false, region: "us-west-004" },
    };

    const dialog = { original: null, mask: "" };

    function applyPreset() {
        const preset = presets[$("reg-preset").value];
        if (!preset) return;
        if (preset.endpoint.includes("{region}") && !$("reg-region").value) $("reg-region").value = preset.region;
        $("reg-region").placeholder = preset.region || "optional";
        $("reg-endpoint").value = preset.endpoint.replace("{region}", $("reg-region").value);
        $("reg-force-path-style").checked = preset.forcePathStyle;
        if ($("reg-preset").value === "minio") {
            $("reg-endpoint").focus();
            $("reg-endpoint").select();
        }
    }

    function followRegion() {
        const preset = presets[$("reg-preset").value];
        if (preset && preset.endpoint.includes("{region}")) $("reg-endpoint").value = preset.endpoint.replace("{region}", $("reg-region").value);
    }

    /** Which preset an existing endpoint looks like; only to preselect the picker. */
    function presetOf(registration) {
        const endpoint = registration.endpoint || "";
        if (!endpoint) return "aws";
        if (/^https:\/\/[^/.]+\.digitaloceanspaces\.com\/?$/.test(endpoint)) return "spaces";
        if (/^https:\/\/s3\.[^/.]+\.backblazeb2\.com\/?$/.test(endpoint)) return "b2";
        return "";
    }

    function addTimeRow(value) {
        const index = $("reg-times").children.length;
        const input = el("input", { type: "text", class: "reg-time", id: `reg-time-${index}`, autocomplete: "off", placeholder: "02:00", size: "6" });
        input.value = value || "";
        const row = el("div", { class: "time-row", "data-index": String(index) },
            input,
            el("button", { type: "button", class: "btn btn-link btn-sm remove-time", "aria-label": "Remove this time",
                           onclick: () => { row.remove(); renumberTimes() } }, "×"),
            el("p", { class: "field-message", id: `reg-time-${index}-message` }));
        $("reg-times").append(row);
        renumberTimes();
        return input;
    }

    function renumberTimes() {
        const rows = Array.from($("reg-times").children);
        rows.forEach((row, index) => {
            row.dataset.index = String(index);
            row.querySelector("input").id = `reg-time-${index}`;
            row.querySelector(".field-message").id = `reg-time-${index}-message`;
            row.querySelector(".remove-time").disabled = rows.length === 1;
        });
    }

    function updateVisibility() {
        const provider = $("reg-provider").value;
        for (const set of document.querySelectorAll(".provider-fields")) set.hidden = set.dataset.provider !== provider;
        const type = $("reg-schedule").value;
        for (const field of document.querySelectorAll("#registration-form .timed")) field.hidden = type === "migration";
        for (const field of document.querySelectorAll("#registration-form .weekly")) field.hidden = type !== "weekly";
        for (const field of document.querySelectorAll("#registration-form .monthly")) field.hidden = type !== "monthly";
    }

    function openRegistrationDialog(registration) {
        dialog.original = registration || null;
        const r = registration || { provider: "filesystem", schedule: { type: "daily", times: ["02:00"] } };
        const schedule = r.schedule || {};
        clearProblems();
        $("registration-dialog-title").textContent = registration ? `Edit ${registration.name}` : "Create registration";
        $("reg-save").textContent = registration ? "Save" : "Create";
        $("reg-name").value = r.name || "";
        $("reg-name").disabled = !!registration;
        $("reg-provider").value = r.provider || "filesystem";
        $("reg-path").value = r.path || "";
        $("reg-bucket").value = r.bucket || "";
        $("reg-endpoint").value = r.endpoint || "";
        $("reg-region").value = r.region || "";
        $("reg-region").placeholder = "us-east-1";
        $("reg-force-path-style").checked = !!r.force_path_style;
        $("reg-prefix").value = r.prefix || "";
        $("reg-access-key").value = r.access_key || "";
        $("reg-preset").value = registration && r.provider === "s3" ? presetOf(r) : "";
        // The mask, as the command line printed it; never anything else.
        dialog.mask = r.secret_key || "";
        $("reg-secret").value = dialog.mask;
        $("reg-secret").type = dialog.mask ? "text" : "password";
        $("reg-secret-help").textContent = dialog.mask
            ? "shown masked: leave the mask to keep the stored key; clear the field and type to replace it"
            : "write-only: after saving it is shown only masked";
        $("reg-schedule").value = schedule.type || "daily";
        $("reg-times").replaceChildren();
        for (const time of (schedule.times && schedule.times.length ? schedule.times : [""])) addTimeRow(time);
        for (const box of document.querySelectorAll("#reg-weekdays input")) box.checked = (schedule.weekdays || []).includes(box.value);
        $("reg-days").value = (schedule.days || []).join(", ");
        $("reg-timezone").value = schedule.timezone || "";
        updateVisibility();
        $("reg-spinner").hidden = true;
        $("reg-save").disabled = false;
        $("registration-dialog").showModal();
        (registration ? $("reg-provider") : $("reg-name")).focus();
        loadTimezones();
    }

    let timezonesLoaded = false;

    function loadTimezones() {
        if (timezonesLoaded) return;
        timezonesLoaded = true;
        cockpit.spawn(["timedatectl", "list-timezones"], { err: "ignore" })
            .then(output => $("timezones").replaceChildren(...output.split("\n").filter(Boolean).map(zone => el("option", { value: zone }))))
            .catch(() => { /* suggestions only */ });
    }

    /** The form as the command line's values. */
    function formValues() {
        const type = $("reg-schedule").value;
        return {
            name: $("reg-name").value.trim(),
            provider: $("reg-provider").value,
            path: $("reg-path").value,
            bucket: $("reg-bucket").value,
            endpoint: $("reg-endpoint").value,
            region: $("reg-region").value,
            force_path_style: $("reg-force-path-style").checked,
            prefix: $("reg-prefix").value,
            access_key: $("reg-access-key").value,
            schedule: {
                type,
                times: Array.from(document.querySelectorAll("#reg-times input")).map(input => input.value.trim()),
                weekdays: Array.from(document.querySelectorAll("#reg-weekdays input:checked")).map(box => box.value),
                days: $("reg-days").value.split(/[\s,]+/).filter(Boolean),
                timezone: $("reg-timezone").value.trim(),
            },
        };
    }

    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

    /**
     * The options of `registration add` (everything given) or `registration edit` (only what
     * changed: options not given keep their stored values). Lists the command line cannot
     * be given empty (weekdays, days) are given as one empty value when cleared in an edit, so
     * that the command line refuses them with its own message instead of keeping the old ones.
     */
    function registrationArguments(values, original) {
        const args = [];
        const providerChanged = !original || original.provider !== values.provider;
        const give = (key, old) => providerChanged || !same(values[key], old ?? "");
        if (!original || original.provider !== values.provider) args.push("--provider", values.provider);
        if (values.provider === "filesystem") {
            if (give("path", original?.path)) args.push("--path", values.path);
        } else {
            for (const [key, option] of [["bucket", "--bucket"], ["endpoint", "--endpoint"], ["region", "--region"],
                                         ["prefix", "--prefix"], ["access_key", "--access-key"]]) {
                if (!original && values[key] === "" && key !== "bucket" && key !== "access_key") continue;
                if (give(key, original?.[key])) args.push(option, values[key]);
            }
            if (original ? (providerChanged || values.force_path_style !== !!original.force_path_style) : values.force_path_style) {
                args.push(values.force_path_style ? "--force-path-style" : "--no-force-path-style");
            }
            args.push("--secret-key-stdin");
        }
        const old = original?.schedule || {};
        const schedule = values.schedule;
        const typeChanged = !original || old.type !== schedule.type;
        if (typeChanged) args.push("--schedule", schedule.type);
        if (schedule.type !== "migration") {
            const list = (values, option, previous) => {
                if (!original) {
                    for (const value of values) args.push(option, value);
                } else if (typeChanged || !same(values, previous || [])) {
                    if (values.length === 0) args.push(option, "");
                    for (const value of values) args.push(option, value);
                }
            };
            list(schedule.times, "--time", old.times);
            if (schedule.type === "weekly") list(schedule.weekdays, "--weekday", old.weekdays);
            if (schedule.type === "monthly") list(schedule.days, "--day", (old.days || []).map(String));
            if (original ? schedule.timezone !== (old.timezone || "") : schedule.timezone !== "") args.push("--timezone", schedule.timezone);
        }
        return args;
    }

    async function saveRegistration(event) {
        event.preventDefault();
        clearProblems();
        const values = formValues();
        const original = dialog.original;
        const name = original ? original.name : values.name;
        // NAME after `--`: whatever is typed there is a name for the command line to judge,
        // never an option.
        const command = ["registration", original ? "edit" : "add", "--json", ...registrationArguments(values, original), "--", name];
        $("reg-save").disabled = true;
        $("reg-spinner").hidden = false;
        let result;
        try {
            // The secret key, or the mask that keeps it, on standard input only.
            result = await dbbackup(command, values.provider === "s3" ? $("reg-secret").value + "\n" : undefined);
        } catch (error) {
            result = { status: -1, stdout: "", stderr: cockpit.message(error) };
        }
        $("reg-save").disabled = false;
        $("reg-spinner").hidden = true;
        const outcome = safeJSON(result);
        if (!outcome || typeof outcome.ok !== "boolean") {
            showDialogAlert([cleanError(result.stderr) || `dbbackup exited with status ${result.status}`]);
            return;
        }
        if (!outcome.ok) {
            showProblems(outcome.problems || []);
            return;
        }
        const notes = [outcome.message, ...(outcome.notes || []),
                       ...(outcome.warnings || []).map(w => `warning: ${w.file}: ${problemText(w, true)}`),
                       ...cleanError(result.stderr).split("\n").filter(Boolean)];
        showNotice(outcome.warnings && outcome.warnings.length ? "warning" : "success", notes);
        state.expanded.add(name);
        // The dialog closes once the list shows the saved registration, so that opening it
        // again at once never shows what was there before (an old mask, say).
        $("reg-spinner").hidden = false;
        $("reg-save").disabled = true;
        await refresh();
        $("registration-dialog").close();
    }

    /** Option or file field -> the form field it belongs to. */
    const formFields = {
        "NAME": "name", "--provider": "provider", "provider": "provider",
        "--path": "path", "path": "path", "--bucket": "bucket", "bucket": "bucket",
        "--endpoint": "endpoint", "endpoint": "endpoint", "--region": "region", "region": "region",
        "--force-path-style": "force_path_style", "force_path_style": "force_path_style",
        "--prefix": "prefix", "prefix": "prefix", "--access-key": "access_key", "access_key": "access_key",
        "--secret-key-stdin": "secret", "--secret-key-file": "secret", "secret_key": "secret",
        "--schedule": "schedule", "schedule": "schedule", "schedule.type": "schedule",
        "--time": "times", "schedule.times": "times", "--weekday": "weekdays", "schedule.weekdays": "weekdays",
        "--day": "days", "schedule.days": "days", "--timezone": "timezone", "schedule.timezone": "timezone",
    };

    /** The message element beside a field the command line named, or null. */
    function messageElement(fieldName) {
        const match = /^(.*?)(?:\[(\d+)\])?$/.exec(fieldName || "");
        const field = formFields[match[1]];
        if (!field) return null;
        if (field === "times" && match[2] !== undefined && $(`reg-time-${match[2]}-message`)) return $(`reg-time-${match[2]}-message`);
        const container = document.querySelector(`#registration-form .field[data-field="${field}"]`);
        if (!container || container.closest("[hidden]")) return null;
        return container.querySelector(":scope > .control > .field-message");
    }

    function showProblems(problems) {
        const general = [];
        for (const problem of problems) {
            const target = messageElement(problem.field);
            if (target) {
                target.append(el("span", { class: problem.severity, "data-field": problem.field }, problemText(problem, false)));
                target.closest(".field, .time-row")?.classList.add("has-" + problem.severity);
                const input = target.parentElement.querySelector("input, select");
                if (input && problem.severity === "error") input.setAttribute("aria-invalid", "true");
            } else {
                general.push(`${problem.severity}: ${problem.file}: ${problemText(problem, true)}`);
            }
        }
        if (general.length) showDialogAlert(general);
        const first = document.querySelector("#registration-form [aria-invalid=true]");
        if (first) first.focus();
    }

    function showDialogAlert(lines) {
        const alert = $("registration-dialog-alert");
        alert.replaceChildren(...lines.map(line => el("div", {}, line)));
        alert.hidden = false;
    }

    function clearProblems() {
        for (const message of document.querySelectorAll("#registration-form .field-message")) message.replaceChildren();
        for (const field of document.querySelectorAll("#registration-form .has-error, #registration-form .has-warning")) {
            field.classList.remove("has-error", "has-warning");
        }
        for (const input of document.querySelectorAll("#registration-form [aria-invalid]")) input.removeAttribute("aria-invalid");
        $("registration-dialog-alert").hidden = true;
    }

    // --- remove -----------------------------------------------------------------------------

    let removing = null;

    function openDeleteDialog(registration) {
        removing = registration;
        const kept = registration.status.backups_kept || 0;
        $("delete-dialog-title").textContent = `Remove registration ${registration.name}?`;
        $("delete-text").textContent =
            `Its schedule stops. Its backups are kept: the ${kept} backup${kept === 1 ? "" : "s"} in ${destination(registration)} ` +
            `and their records stay, "dbbackup list ${registration.name}" still shows them, and they can still be restored.`;
        $("delete-alert").hidden = true;
        $("delete-dialog").showModal();
    }

    async function confirmDelete() {
        const registration = removing;
        let result;
        try {
            result = await dbbackup(["registration", "remove", "--json", "--", registration.name]);
        } catch (error) {
            result = { status: -1, stdout: "", stderr: cockpit.message(error) };
        }
        const outcome = safeJSON(result);
        if (!outcome || !outcome.ok) {
            $("delete-alert").textContent = outcome ? (outcome.problems || []).map(p => problemText(p, true)).join("\n") : cleanError(result.stderr);
            $("delete-alert").hidden = false;
            return;
        }
        $("delete-dialog").close();
        state.expanded.delete(registration.name);
        showNotice("success", [outcome.message, ...cleanError(result.stderr).split("\n").filter(Boolean)]);
        await refresh();
    }

    // --- restore ----------------------------------------------------------------------------

    let restoring = null;

    function openRestoreDialog(registration, backup) {
        restoring = backup;
        $("restore-dialog-title").textContent = `Restore backup ${backup.id}`;
        $("restore-what").textContent = `Backup ${backup.id} of ${registration.name}, taken ${when(backup.created_at)}, ` +
            `schema version ${backup.version ?? "?"}, ${size(backup.size)}: ${backup.location}`;
        $("restore-path-message").replaceChildren();
        $("restore-path").removeAttribute("aria-invalid");
        $("restore-force").checked = false;
        $("restore-result").hidden = true;
        $("restore-confirm").disabled = false;
        $("restore-spinner").hidden = true;
        $("restore-dialog").showModal();
        $("restore-path").focus();
    }

    async function confirmRestore(event) {
        event.preventDefault();
        const args = ["restore", String(restoring.id), "--to", $("restore-path").value];
        if ($("restore-force").checked) args.push("--force");
        $("restore-path-message").replaceChildren();
        $("restore-path").removeAttribute("aria-invalid");
        $("restore-result").hidden = true;
        $("restore-confirm").disabled = true;
        $("restore-spinner").hidden = false;
        let result;
        try {
            result = await dbbackup(args);
        } catch (error) {
            result = { status: -1, stdout: "", stderr: cockpit.message(error) };
        }
        $("restore-confirm").disabled = false;
        $("restore-spinner").hidden = true;
        if (result.status === 0) {
            $("restore-result").textContent = result.stdout.trim();
            $("restore-result").hidden = false;
        } else {
            // restore's errors are about the destination (exists, missing directory, not
            // writable) or the backup itself: shown under the path, in the command line's words.
            $("restore-path-message").append(el("span", { class: "error" }, cleanError(result.stderr) || `dbbackup restore exited with status ${result.status}`));
            $("restore-path").setAttribute("aria-invalid", "true");
        }
    }

    // --- retention --------------------------------------------------------------------------

    function renderRetention(result, configReport) {
        let retention = null;
        $("retention-message").replaceChildren();
        try {
            retention = json(result, "dbbackup retention show");
        } catch (error) {
            $("retention-message").append(el("span", { class: "error" }, error.message));
        }
        if (retention && !state.retentionDirty) {
            $("retention-local").value = String(retention.local);
            const unlimited = retention.remote === "unlimited";
            $("retention-unlimited").checked = unlimited;
            $("retention-remote").value = unlimited ? "" : String(retention.remote);
            $("retention-remote").disabled = unlimited;
        }
        $("retention-local-message").replaceChildren();
        $("retention-remote-message").replaceChildren();
        for (const problem of (configReport && configReport.problems || []).filter(isRetentionProblem)) {
            retentionMessage(problem);
        }
    }

    function retentionMessage(problem) {
        const target = { "--local": "retention-local-message", "retention.local": "retention-local-message",
                         "--remote": "retention-remote-message", "retention.remote": "retention-remote-message" }[problem.field];
        const text = problemText(problem, !target);
        $(target || "retention-message").append(el("span", { class: problem.severity, "data-field": problem.field || "" }, text));
    }

    async function saveRetention(event) {
        event.preventDefault();
        const remote = $("retention-unlimited").checked ? "unlimited" : $("retention-remote").value.trim();
        for (const id of ["retention-local-message", "retention-remote-message", "retention-message"]) $(id).replaceChildren();
        $("retention-result").textContent = "";
        $("retention-save").disabled = true;
        let result;
        try {
            result = await dbbackup(["retention", "set", "--json", "--local", $("retention-local").value.trim(), "--remote", remote]);
        } catch (error) {
            result = { status: -1, stdout: "", stderr: cockpit.message(error) };
        }
        $("retention-save").disabled = false;
        const outcome = safeJSON(result);
        if (!outcome || typeof outcome.ok !== "boolean") {
            $("retention-message").append(el("span", { class: "error" }, cleanError(result.stderr) || `dbbackup exited with status ${result.status}`));
            return;
        }
        if (!outcome.ok) {
            for (const problem of outcome.problems || []) retentionMessage(problem);
            return;
        }
        state.retentionDirty = false;
        $("retention-result").textContent = outcome.message;
        await refresh();
    }

    // --- notices ----------------------------------------------------------------------------

    function showNotice(kind, lines) {
        $("notice").className = "alert " + (kind === "success" ? "alert-success" : kind === "warning" ? "alert-warning" : "alert-danger");
        $("notice-text").replaceChildren(...lines.filter(Boolean).map(line => el("div", {}, line)));
        $("notice").hidden = false;
    }

    // --- wiring -----------------------------------------------------------------------------

    /**
     * Lays out each form field index.html declares with data-label: the label (for the field's
     * first input or select that is not a checkbox, or for data-for; a plain span when there is
     * none), then the field's contents in a .control, ending with the .field-message the command
     * line's problems go to (its id from data-message).
     */
    function layOutFields() {
        for (const field of document.querySelectorAll(".field[data-label]")) {
            const control = el("div", { class: "control" }, ...field.childNodes,
                               el("p", { class: "field-message", id: field.dataset.message }));
            const target = field.dataset.for || control.querySelector("input:not([type=checkbox]), select")?.id;
            const label = target ? el("label", { for: target }, field.dataset.label) : el("span", { class: "label" }, field.dataset.label);
            field.replaceChildren(label, control);
        }
    }

    function init() {
        layOutFields();
        $("create-registration").addEventListener("click", () => openRegistrationDialog(null));
        $("registration-form").addEventListener("submit", saveRegistration);
        $("reg-cancel").addEventListener("click", () => $("registration-dialog").close());
        $("reg-provider").addEventListener("change", updateVisibility);
        $("reg-schedule").addEventListener("change", () => {
            if ($("reg-schedule").value !== "migration" && $("reg-times").children.length === 0) addTimeRow("");
            updateVisibility();
        });
        $("reg-add-time").addEventListener("click", () => addTimeRow("").focus());
        $("reg-preset").addEventListener("change", applyPreset);
        $("reg-region").addEventListener("input", followRegion);
        // While the field holds the mask it is shown (it is only the mask); a value typed in
        // its place is hidden like a password.
        $("reg-secret").addEventListener("input", () => {
            $("reg-secret").type = dialog.mask && $("reg-secret").value === dialog.mask ? "text" : "password";
        });
        $("delete-confirm").addEventListener("click", confirmDelete);
        $("delete-cancel").addEventListener("click", () => $("delete-dialog").close());
        $("restore-form").addEventListener("submit", confirmRestore);
        $("restore-cancel").addEventListener("click", () => $("restore-dialog").close());
        $("retention-form").addEventListener("submit", saveRetention);
        for (const id of ["retention-local", "retention-remote"]) $(id).addEventListener("input", () => { state.retentionDirty = true });
        $("retention-unlimited").addEventListener("change", () => {
            state.retentionDirty = true;
            $("retention-remote").disabled = $("retention-unlimited").checked;
        });
        $("notice-close").addEventListener("click", () => { $("notice").hidden = true });
        // The page reloads by itself when administrative access is switched on or off.
        cockpit.permission({ admin: true });
        refresh();
    }

    document.addEventListener("DOMContentLoaded", init);
}());
