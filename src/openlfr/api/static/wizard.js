// The deployment wizard (templates/wizard.html): six steps, one shown at a time, each
// checked before the next; times are UTC; a new draft is POSTed, an edit PATCHes only the
// fields that changed. Uses api() and flash() from console.js.
"use strict";

(function () {
  const form = document.getElementById("wizard");
  if (!form) { return; }
  const steps = Array.from(form.querySelectorAll("fieldset.step"));
  const draft = JSON.parse(document.getElementById("wizard-draft").textContent || "null");
  const el = (id) => document.getElementById(id);
  const field = (name) => form.elements.namedItem(name);
  let current = 0;

  // ---------------------------------------------------------------- times (UTC)
  const utcInput = (date) => date.toISOString().slice(0, 16);  // "YYYY-MM-DDTHH:MM", UTC
  const fromUtcInput = (value) => new Date(value + ":00Z").toISOString();
  const sameInstant = (a, b) => a && b && new Date(a).getTime() === new Date(b).getTime();

  function tick() {
    el("w-now-utc").textContent = new Date().toISOString().slice(0, 16).replace("T", " ");
  }

  // ---------------------------------------------------------------- cameras
  function addCamera(id, src) {
    const row = el("w-camera-row").content.firstElementChild.cloneNode(true);
    row.querySelector(".cam-id").value = id || "";
    row.querySelector(".cam-src").value = src || "";
    el("w-cameras").appendChild(row);
    return row;
  }

  function cameras() {
    return Array.from(el("w-cameras").querySelectorAll("tr")).map((tr) => ({
      camera_id: tr.querySelector(".cam-id").value.trim(),
      source_url: tr.querySelector(".cam-src").value.trim(),
    }));
  }

  // ---------------------------------------------------------------- watchlist
  function checkedCategories() {
    return Array.from(form.querySelectorAll("input[name=categories]:checked")).map((c) => c.value);
  }

  function preview() {
    const boxes = Array.from(form.querySelectorAll("input[name=categories]:checked"));
    const n = boxes.reduce((sum, c) => sum + Number(c.dataset.entries), 0);
    el("w-snapshot-preview").textContent = boxes.length === 0
      ? "Choose at least one category."
      : `The snapshot would hold up to ${n} current ${n === 1 ? "entry" : "entries"} of these ` +
        "categories (entries without a template of the chosen embedder are left out).";
  }

  function embedderChanged(ev) {
    const opt = field("embedder_key").selectedOptions[0];
    const thr = field("threshold");
    if (opt && opt.dataset.threshold && (ev === null ? !thr.value : true)) {
      thr.value = opt.dataset.threshold;
    } else if (ev !== null) {
      thr.value = "";  // another embedder: its threshold must be given, never assumed
    }
    thr.required = !(opt && opt.dataset.threshold);
  }

  // ---------------------------------------------------------------- values
  const PLAIN = ["name", "kind", "purpose", "legal_basis", "authorising_officer",
    "authorising_officer_rank", "location", "urgent_reason", "watchlist_criteria",
    "embedder_key", "dpia_reference", "fria_reference", "notification_reference",
    "two_person_exception"];
  const CHECKS = ["urgent", "signage_confirmed", "two_person_verification"];

  function values() {
    const out = {};
    for (const name of PLAIN) {
      const input = field(name);
      if (!input) { continue; }
      const v = input.value.trim();
      out[name] = v === "" ? null : v;
    }
    for (const name of CHECKS) { out[name] = field(name).checked; }
    for (const name of ["window_start", "window_end"]) {
      out[name] = field(name).value ? fromUtcInput(field(name).value) : null;
    }
    const thr = field("threshold").value;
    out.threshold = thr === "" ? null : Number(thr);
    out.cameras = cameras();
    out.categories = checkedCategories();
    return out;
  }

  function body() {
    const v = values();
    if (!draft) {  // a new draft: leave out what is empty (the server fills its defaults)
      return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null));
    }
    const changed = {};
    for (const [k, x] of Object.entries(v)) {
      let before = k === "authorising_officer" ? form.dataset.officer : draft[k];
      if (before === undefined) { before = null; }
      const same = k.startsWith("window_") ? sameInstant(x, before)
        : k === "cameras" ? JSON.stringify(x) === JSON.stringify(
          before.map((c) => ({ camera_id: c.camera_id, source_url: c.source_url })))
        : k === "categories" ? JSON.stringify([...x].sort()) === JSON.stringify([...before].sort())
        : JSON.stringify(x) === JSON.stringify(before);
      if (!same) { changed[k] = x; }
    }
    return changed;
  }

  function fill(d) {
    for (const name of PLAIN) {
      if (field(name) && d[name] !== null && d[name] !== undefined) { field(name).value = d[name]; }
    }
    for (const name of CHECKS) { field(name).checked = Boolean(d[name]); }
    field("window_start").value = utcInput(new Date(d.window_start));
    field("window_end").value = utcInput(new Date(d.window_end));
    field("threshold").value = d.threshold;
    for (const c of form.querySelectorAll("input[name=categories]")) {
      c.checked = d.categories.includes(c.value);
    }
    for (const c of d.cameras) { addCamera(c.camera_id, c.source_url); }
  }

  // ---------------------------------------------------------------- steps
  function stepValid(i) {
    const step = steps[i];
    for (const input of step.querySelectorAll("input, textarea, select")) {
      if (!input.checkValidity()) { input.reportValidity(); return false; }
    }
    if (step.dataset.step === "cameras" && cameras().length === 0) {
      flash("Add at least one camera.", true); return false;
    }
    const ids = cameras().map((c) => c.camera_id);
    if (step.dataset.step === "cameras" && new Set(ids).size !== ids.length) {
      flash("Camera ids must be unique.", true); return false;
    }
    if (step.dataset.step === "watchlist" && checkedCategories().length === 0) {
      flash("Choose at least one watchlist category.", true); return false;
    }
    return true;
  }

  function summary() {
    const v = values();
    const rows = [
      ["Name", v.name], ["Purpose", v.purpose], ["Legal basis", v.legal_basis],
      ["Authorising officer", v.authorising_officer + (v.authorising_officer_rank ? `, ${v.authorising_officer_rank}` : "")],
      ["Location", v.location],
      ["Window (UTC)", `${field("window_start").value.replace("T", " ")} to ${field("window_end").value.replace("T", " ")}`],
      ["Cameras", v.cameras.map((c) => c.camera_id).join(", ")],
      ["Categories", v.categories.map((c) => c.replace(/_/g, " ")).join(", ")],
      ["Embedder and threshold", `${v.embedder_key || "-"} at ${v.threshold === null ? "the recorded threshold" : v.threshold}`],
      ["DPIA", v.dpia_reference], ["Signage", v.signage_confirmed ? "up" : "NOT confirmed: authorisation will be refused"],
      ["Two-person verification", v.two_person_verification ? "yes" : "no"],
    ];
    const dl = el("w-summary");
    dl.replaceChildren();
    for (const [k, x] of rows) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = x === null ? "-" : x;
      dl.append(dt, dd);
    }
  }

  function show(i) {
    current = Math.max(0, Math.min(steps.length - 1, i));
    steps.forEach((s, j) => { s.hidden = j !== current; });
    form.querySelectorAll("#wizard-steps button").forEach((b, j) => {
      if (j === current) { b.setAttribute("aria-current", "step"); } else { b.removeAttribute("aria-current"); }
    });
    const last = current === steps.length - 1;
    el("w-back").disabled = current === 0;
    el("w-next").hidden = last;
    el("w-save").hidden = !last;
    el("w-save-authorise").hidden = !last;
    if (last) { summary(); }
    const first = steps[current].querySelector("input, textarea, select");
    if (first) { first.focus(); }
  }

  function go(target) {
    for (let j = current; j < target; j++) {  // forward: every step on the way must be complete
      if (!stepValid(j)) { show(j); return; }
    }
    show(target);
  }

  // ---------------------------------------------------------------- save
  async function save(authorise) {
    for (let j = 0; j < steps.length; j++) { if (!stepValid(j)) { show(j); return; } }
    const payload = body();
    const buttons = [el("w-save"), el("w-save-authorise")];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      let dep = draft;
      if (!draft || Object.keys(payload).length > 0) {
        dep = await api(form.dataset.wizardMethod, form.dataset.wizardApi, payload);
      }
      if (authorise) {
        try {
          await api("POST", `/api/deployments/${dep.id}/authorise`, {});
        } catch (err) {  // saved, but not authorised: say why, and stay on the saved draft
          window.location = `/console/deployments/${dep.id}/edit?refused=` + encodeURIComponent(err.message);
          return;
        }
      }
      window.location = `/console/deployments/${dep.id}`;
    } catch (err) {
      flash(err.message, true);
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // ---------------------------------------------------------------- wiring
  form.addEventListener("submit", (ev) => { ev.preventDefault(); save(false); });
  el("w-save-authorise").addEventListener("click", () => save(true));
  el("w-next").addEventListener("click", () => go(current + 1));
  el("w-back").addEventListener("click", () => show(current - 1));
  form.querySelectorAll("#wizard-steps button").forEach((b) => {
    b.addEventListener("click", () => go(Number(b.dataset.goto)));
  });
  el("w-add-camera").addEventListener("click", () => addCamera("", "").querySelector(".cam-id").focus());
  el("w-cameras").addEventListener("click", (ev) => {
    const remove = ev.target.closest(".cam-remove");
    if (remove) { remove.closest("tr").remove(); }
  });
  el("w-categories").addEventListener("change", preview);
  field("embedder_key").addEventListener("change", embedderChanged);

  if (draft) {
    fill(draft);
  } else {
    for (const input of form.querySelectorAll("input[data-utc]")) {
      input.value = utcInput(new Date(Date.now() + Number(input.dataset.defaultHours) * 3600e3));
    }
    addCamera("cam1", "");
  }
  embedderChanged(null);
  preview();
  tick();
  setInterval(tick, 30e3);
  const refused = new URLSearchParams(window.location.search).get("refused");
  if (refused) { flash("Saved, not authorised: " + refused, true); }
  show(0);
}());
