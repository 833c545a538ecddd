// OpenLFR operator queue: pending alerts first (a live count, an optional sound), repeat
// alerts of one subject on one deployment grouped under one card with the newest probe,
// decisions confirmed in a dialog (note; reason when rejected), keyboard shortcuts, UTC times.
// Uses console.js's api() and escapeHtml(). Images are requested only where the viewer's role
// may see them (data-images: all | running | none); elsewhere a placeholder says why.
"use strict";

const FINAL = ["confirmed", "rejected", "not_engaged"];
const OUTCOMES = {
  confirmed: { label: "Confirmed", key: "c", cls: "ok" },
  rejected: { label: "Rejected (false alert)", key: "r", cls: "bad" },
  not_engaged: { label: "Not engaged", key: "n", cls: "" },
};
const DECIDED_SHOWN = 30;

function utc(iso) {
  // one zone everywhere in the console: "YYYY-MM-DD HH:MM:SS UTC"
  return iso ? new Date(iso).toISOString().slice(0, 19).replace("T", " ") + " UTC" : "–";
}

function outcomeText(status) {
  return status === "pending" ? "awaiting decision" : status.replace("_", " ");
}

class OperatorQueue {
  constructor(root) {
    this.root = root;
    this.me = root.dataset.me;
    this.canAdjudicate = root.dataset.canAdjudicate === "1";
    this.images = root.dataset.images;             // all | running | none
    this.canReference = root.dataset.reference === "1";
    this.active = new Set(JSON.parse(root.dataset.active || "[]"));
    this.alerts = new Map();
    this.selected = null;                          // the selected group's key
    this.pendingBox = document.getElementById("pending");
    this.decidedBox = document.getElementById("decided");
    this.countEl = document.getElementById("pending-count");
    this.sound = document.getElementById("sound");
    this.dialog = document.getElementById("decide");
    this.title = document.title;
  }

  async start() {
    if (this.sound) {
      this.sound.checked = localStorage.getItem("openlfr.sound") === "1";
      this.sound.addEventListener("change", () => {
        localStorage.setItem("openlfr.sound", this.sound.checked ? "1" : "0");
        if (this.sound.checked) { this.beep(); }
      });
    }
    this.bindDialog();
    document.addEventListener("keydown", (ev) => this.onKey(ev));
    const help = document.getElementById("shortcuts");
    document.getElementById("shortcuts-link").addEventListener("click", (ev) => {
      ev.preventDefault();
      help.hidden = !help.hidden;
    });
    try {
      const [pending, recent] = await Promise.all([
        api("GET", this.root.dataset.pending), api("GET", this.root.dataset.recent)]);
      for (const a of pending.items.concat(recent.items)) { this.alerts.set(a.id, a); }
    } catch (err) { this.problem(err.message); }
    this.render();
    const source = new EventSource(this.root.dataset.stream, { withCredentials: true });
    source.addEventListener("alert", (ev) => this.onAlert(JSON.parse(ev.data)));
    source.addEventListener("open", () => { this.root.dataset.live = "1"; document.body.dataset.live = "1"; });
    source.addEventListener("error", () => { this.root.dataset.live = "0"; });
    setInterval(() => this.refreshActive(), 10000);
  }

  async onAlert(a) {
    const isNew = !this.alerts.has(a.id);
    if (isNew && !this.active.has(a.deployment_id)) { await this.refreshActive(); }
    this.alerts.set(a.id, a);
    this.render();
    if (isNew && a.status === "pending" && this.sound && this.sound.checked) { this.beep(); }
  }

  async refreshActive() {
    try {
      const deps = (await api("GET", "/api/deployments?status=active&limit=1000")).items;
      const before = [...this.active].sort().join(",");
      this.active = new Set(deps.map((d) => d.id));
      const status = document.getElementById("active-status");
      if (status) {
        status.textContent = deps.length
          ? "Scanning now: " + deps.map((d) => `deployment ${d.id} (${d.name})`).join(", ") + "."
          : "No deployment is active: nothing is being scanned.";
        status.dataset.active = String(deps.length);
      }
      if (before !== [...this.active].sort().join(",")) { this.render(true); }
    } catch (err) { /* the next poll tries again */ }
  }

  beep() {
    try {
      const ctx = this.audio || (this.audio = new AudioContext());
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.4);
    } catch (err) { /* no audio device: the count still shows */ }
  }

  groups() {
    // pending (and disputed) alerts by deployment and subject, newest group first
    const byKey = new Map();
    for (const a of this.alerts.values()) {
      if (FINAL.includes(a.status)) { continue; }
      const key = `${a.deployment_id}/${a.subject_id === null ? "ref:" + a.subject_reference : a.subject_id}`;
      if (!byKey.has(key)) { byKey.set(key, []); }
      byKey.get(key).push(a);
    }
    const out = [...byKey.entries()].map(([key, list]) => {
      list.sort((x, y) => y.id - x.id);
      return { key: key, alerts: list, newest: list[0] };
    });
    return out.sort((x, y) => y.newest.id - x.newest.id);
  }

  render(force) {
    const groups = this.groups();
    const count = groups.reduce((n, g) => n + g.alerts.length, 0);
    this.countEl.textContent = String(count);
    this.countEl.dataset.count = String(count);
    document.title = (count ? `(${count}) ` : "") + this.title;
    const keep = new Map([...this.pendingBox.querySelectorAll(".alert-card")].map((c) => [c.dataset.key, c]));
    const cards = groups.map((g) => {
      const sig = g.alerts.map((a) => `${a.id}:${a.status}:${a.adjudications.length}`).join(",");
      const old = keep.get(g.key);
      if (old && old.dataset.sig === sig && !force) { return old; }
      const card = this.groupCard(g);
      card.dataset.sig = sig;
      return card;
    });
    this.pendingBox.replaceChildren(...cards);
    document.getElementById("queue-empty").hidden = cards.length > 0;
    if (!groups.some((g) => g.key === this.selected)) { this.selected = groups.length ? groups[0].key : null; }
    this.markSelected();
    const decided = this.decidedGroups().slice(0, DECIDED_SHOWN);
    this.decidedBox.replaceChildren(...decided.map((list) => this.decidedRow(list)));
    document.getElementById("decided-empty").hidden = decided.length > 0;
  }

  decidedGroups() {
    // decided alerts, newest first; one row for the alerts of one card decided together
    const rows = new Map();
    const sorted = [...this.alerts.values()].filter((a) => FINAL.includes(a.status))
      .sort((x, y) => (y.decided_at || "").localeCompare(x.decided_at || "") || y.id - x.id);
    for (const a of sorted) {
      const notes = a.adjudications.map((j) => j.note || "").join("|");
      const key = [a.deployment_id, a.subject_id, a.status, a.deciders.join(","), notes,
        (a.decided_at || "").slice(0, 16)].join("/");
      if (!rows.has(key)) { rows.set(key, []); }
      rows.get(key).push(a);
    }
    return [...rows.values()];
  }

  markSelected() {
    for (const c of this.pendingBox.querySelectorAll(".alert-card")) {
      c.classList.toggle("selected", c.dataset.key === this.selected);
    }
  }

  image(a, kind) {
    // the <img> if this viewer may see it, else a placeholder that says why
    const alt = kind === "probe" ? "face seen by the camera" : "watchlist image";
    let why = null;
    if (this.images === "none" || (kind === "reference" && !this.canReference)) {
      why = "Not shown: your role does not include face images.";
    } else if (this.images === "running" && !this.active.has(a.deployment_id)) {
      why = `Not shown: deployment ${a.deployment_id} is not running.`;
    } else if (kind === "probe" && !a.has_probe_image) {
      why = "No image: the probe image has been deleted.";
    } else if (kind === "reference" && a.subject_id === null) {
      why = "No image: the watchlist entry has been removed.";
    }
    if (why) { return `<div class="placeholder" role="img" aria-label="${alt} not shown">${escapeHtml(why)}</div>`; }
    return `<img alt="${alt}" src="/api/alerts/${a.id}/${kind}">`;
  }

  groupCard(g) {
    const a = g.newest;
    const card = document.createElement("article");
    card.className = "alert-card";
    card.id = "alert-" + a.id;
    card.dataset.key = g.key;
    card.dataset.count = String(g.alerts.length);
    card.tabIndex = 0;
    const mine = a.deciders.includes(this.me);
    const repeat = g.alerts.length > 1
      ? `<p class="repeat">${g.alerts.length} alerts of this subject on this deployment, ${escapeHtml(utc(g.alerts[g.alerts.length - 1].created_at))} to ${escapeHtml(utc(a.created_at))}; the newest is shown.</p>` : "";
    card.innerHTML = `
      <div class="possible">Possible match: a person must decide</div>
      ${repeat}
      <div class="pair">
        <figure>${this.image(a, "probe")}<figcaption>seen on camera ${escapeHtml(a.camera_id)}</figcaption></figure>
        <figure>${this.image(a, "reference")}<figcaption>watchlist: ${escapeHtml(a.subject_name || "")} (${escapeHtml(a.subject_reference || "")})</figcaption></figure>
      </div>
      <dl>
        <dt>similarity</dt><dd class="score">${fmt(a.score, 3)}</dd>
        <dt>threshold</dt><dd>${fmt(a.threshold, 3)}</dd>
        <dt>category</dt><dd class="category">${escapeHtml((a.category || "").replace(/_/g, " "))}</dd>
        <dt>deployment</dt><dd>${escapeHtml(String(a.deployment_id))}</dd>
        <dt>time</dt><dd class="when">${escapeHtml(utc(a.created_at))}</dd>
        ${a.adjudications.length ? `<dt>decisions</dt><dd>${a.adjudications.length} so far by ${escapeHtml(a.deciders.join(", "))} (two-person verification: a second person must agree)</dd>` : ""}
        <dt>outcome</dt><dd class="outcome"><span class="state state-${escapeHtml(a.status)}">${escapeHtml(outcomeText(a.status))}</span></dd>
      </dl>
      <p class="card-error error-text" role="alert" hidden></p>`;
    if (this.canAdjudicate && !mine) {
      const actions = document.createElement("div");
      actions.className = "actions";
      for (const [outcome, o] of Object.entries(OUTCOMES)) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = o.cls;
        b.dataset.outcome = outcome;
        b.textContent = o.label;
        b.title = `shortcut: ${o.key.toUpperCase()}`;
        b.addEventListener("click", () => { this.selected = g.key; this.markSelected(); this.ask(g, outcome); });
        actions.appendChild(b);
      }
      card.appendChild(actions);
    } else if (mine) {
      card.insertAdjacentHTML("beforeend", '<p class="muted">You have decided; a second person must agree.</p>');
    }
    card.addEventListener("focus", () => { this.selected = g.key; this.markSelected(); });
    return card;
  }

  decidedRow(list) {
    const a = list[0];
    const li = document.createElement("li");
    li.className = "decided-row";
    li.id = "decided-" + a.id;
    li.dataset.count = String(list.length);
    const last = a.adjudications[a.adjudications.length - 1];
    const notes = a.adjudications.filter((j) => j.note).map((j) => j.note);
    const which = list.length > 1 ? `${list.length} alerts (${list.map((x) => x.id).sort((x, y) => x - y).join(", ")})` : `alert ${a.id}`;
    li.innerHTML = `<span class="state state-${escapeHtml(a.status)}">${escapeHtml(outcomeText(a.status))}</span>
      ${which}: ${escapeHtml(a.subject_name || a.subject_reference || "")}, deployment ${a.deployment_id}, camera ${escapeHtml(a.camera_id)}
      <span class="by">by ${escapeHtml(a.deciders.join(" and ") || "–")} at ${escapeHtml(utc(a.decided_at || (last && last.created_at)))}</span>
      ${notes.length ? `<div class="note">${notes.map((n) => escapeHtml(n)).join("<br>")}</div>` : ""}`;
    return li;
  }

  bindDialog() {
    const d = this.dialog;
    if (!d) { return; }
    d.querySelector("#decide-cancel").addEventListener("click", () => d.close());
    const form = d.querySelector("form");
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
    d.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
    });
  }

  ask(g, outcome) {
    if (!this.canAdjudicate || !this.dialog) { return; }
    const d = this.dialog;
    const open = g.alerts.filter((a) => !a.deciders.includes(this.me));
    if (!open.length) { return; }
    this.asking = { group: g, outcome: outcome, alerts: open };
    const who = escapeHtml(g.newest.subject_name || g.newest.subject_reference || "");
    d.querySelector("#decide-what").innerHTML = `Record <strong>${escapeHtml(OUTCOMES[outcome].label)}</strong> for ` +
      (open.length > 1 ? `all ${open.length} alerts of ${who} on deployment ${g.newest.deployment_id}?` : `the alert of ${who} on deployment ${g.newest.deployment_id}?`);
    const reason = d.querySelector("#decide-reason");
    reason.value = "";
    reason.required = outcome === "rejected";
    d.querySelector("#decide-reason-row").hidden = outcome !== "rejected";
    d.querySelector("#decide-note").value = "";
    d.querySelector("#decide-error").hidden = true;
    d.showModal();
    (outcome === "rejected" ? reason : d.querySelector("#decide-note")).focus();
  }

  async submit() {
    const d = this.dialog;
    const { outcome, alerts } = this.asking;
    const body = { outcome: outcome };
    const note = d.querySelector("#decide-note").value.trim();
    if (note) { body.note = note; }
    if (outcome === "rejected") { body.reason = d.querySelector("#decide-reason").value; }
    const button = d.querySelector("#decide-ok");
    button.disabled = true;
    try {
      for (const a of alerts) {
        this.alerts.set(a.id, await api("POST", `/api/alerts/${a.id}/adjudicate`, body));
      }
      d.close();
      this.render();
    } catch (err) {
      const e = d.querySelector("#decide-error");
      e.textContent = err.message;
      e.hidden = false;
      this.render();
    } finally {
      button.disabled = false;
    }
  }

  problem(message) {
    const el = document.getElementById("queue-error");
    el.textContent = message;
    el.hidden = false;
  }

  onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (this.dialog && this.dialog.open) { return; }  // the dialog's own keys: Enter, Escape
    if (ev.target.closest("input, textarea, select")) { return; }
    const groups = this.groups();
    const i = groups.findIndex((g) => g.key === this.selected);
    const key = ev.key.toLowerCase();
    if (key === "j" || key === "k") {
      const next = groups[Math.max(0, Math.min(groups.length - 1, i + (key === "j" ? 1 : -1)))];
      if (next) { this.selected = next.key; this.markSelected(); this.cardOf(next.key).scrollIntoView({ block: "nearest" }); }
    } else if (key === "?") {
      const help = document.getElementById("shortcuts");
      help.hidden = !help.hidden;
    } else if (i >= 0) {
      const outcome = Object.keys(OUTCOMES).find((o) => OUTCOMES[o].key === key);
      if (outcome) { ev.preventDefault(); this.ask(groups[i], outcome); }
    }
  }

  cardOf(key) {
    return [...this.pendingBox.querySelectorAll(".alert-card")].find((c) => c.dataset.key === key);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("queue");
  if (root) { new OperatorQueue(root).start(); }
});
