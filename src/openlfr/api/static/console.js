// OpenLFR console behaviour: API forms and buttons, and the live cameras (the alert queue
// is operator.js).
// Plain JavaScript, no dependencies. All calls go to the same origin with the session cookie.
"use strict";

function flash(message, isError) {
  const el = document.getElementById("flash");
  if (!el) { return; }
  el.textContent = message;
  el.className = "flash show" + (isError ? " error" : "");
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { el.className = "flash"; }, 6000);
}

function csrfToken() {
  // The session's anti-CSRF token, from the page (base.html); the server refuses a
  // cookie-authenticated change without it.
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

async function api(method, url, body) {
  const opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
  if (!["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase())) {
    opts.headers["X-CSRF-Token"] = csrfToken();
  }
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(url, opts);
  let data = null;
  const text = await resp.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
  if (!resp.ok) {
    let detail = data && data.detail !== undefined ? data.detail : resp.statusText;
    if (Array.isArray(detail)) {
      detail = detail.map((d) => (d.loc ? d.loc.slice(1).join(".") + ": " : "") + d.msg).join("; ");
    }
    throw new Error(detail);
  }
  return data;
}

function setPath(obj, path, value) {
  // "cameras.0.camera_id" -> obj.cameras[0].camera_id
  const keys = path.split(".");
  let cur = obj;
  keys.forEach((k, i) => {
    const last = i === keys.length - 1;
    const nextIsIndex = !last && /^\d+$/.test(keys[i + 1]);
    if (last) { cur[k] = value; return; }
    if (cur[k] === undefined) { cur[k] = nextIsIndex ? [] : {}; }
    cur = cur[k];
  });
}

function formJson(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) { continue; }
    let value;
    if (el.type === "checkbox") {
      value = el.checked;
    } else if (el.type === "select-multiple") {
      value = Array.from(el.selectedOptions).map((o) => o.value);
    } else if (el.value === "" && !el.required) {
      continue;
    } else if (el.dataset.list !== undefined) {
      value = el.value.split(",").map((s) => s.trim()).filter((s) => s);
    } else if (el.type === "number") {
      value = Number(el.value);
    } else if (el.type === "datetime-local") {
      value = new Date(el.value).toISOString();
    } else {
      value = el.value;
    }
    setPath(out, el.name, value);
  }
  return out;
}

function afterSuccess(el, data) {
  const target = el.dataset.redirect;
  if (target) {
    window.location = target.replace("{id}", data && data.id !== undefined ? data.id : "");
  } else {
    window.location.reload();
  }
}

document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (!form.matches("form[data-api]")) { return; }
  ev.preventDefault();
  const button = form.querySelector("button[type=submit]");
  if (button) { button.disabled = true; }
  try {
    const body = form.enctype === "multipart/form-data" ? new FormData(form) : formJson(form);
    const data = await api(form.dataset.method || "POST", form.dataset.api, body);
    flash(form.dataset.done || "Saved");
    afterSuccess(form, data);
  } catch (err) {
    flash(err.message, true);
    if (button) { button.disabled = false; }
  }
});

document.addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-post]");
  if (!button) { return; }
  ev.preventDefault();
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) { return; }
  button.disabled = true;
  try {
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : {};
    const data = await api("POST", button.dataset.post, body);
    flash(button.dataset.done || "Done");
    if (button.dataset.noreload === undefined) { afterSuccess(button, data); }
    return data;
  } catch (err) {
    flash(err.message, true);
    button.disabled = false;
  }
});

// ---------------------------------------------------------------- helpers (operator.js uses them too)
function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// ---------------------------------------------------------------- operator: live cameras
async function refreshCameras(box) {
  let cams;
  try { cams = (await api("GET", box.dataset.list)).items; } catch (err) { return; }
  const key = (c) => `${c.deployment_id}/${c.camera_id}`;
  const want = new Set(cams.map(key));
  for (const tile of box.querySelectorAll(".camera")) {
    if (!want.has(tile.dataset.key)) { tile.remove(); }
  }
  for (const c of cams) {
    let tile = [...box.querySelectorAll(".camera")].find((t) => t.dataset.key === key(c));
    if (!tile) {
      tile = document.createElement("div");
      tile.className = "camera panel";
      tile.dataset.key = key(c);
      tile.innerHTML = '<div class="cap"></div>';
      box.appendChild(tile);
    }
    // a live view only while the camera runs (a failed or ended one has none to show)
    const live = tile.querySelector("img.live");
    if (c.url && c.running && !live) {
      tile.insertAdjacentHTML("afterbegin", `<img class="live" alt="live view of camera ${escapeHtml(c.camera_id)}" src="${escapeHtml(c.url)}">`);
    } else if (live && !c.running) {
      live.remove();
    }
    const state = c.running ? "faces that do not match are blurred"
      : (c.error ? "not running: " + c.error : "not running (the recording has ended)");
    tile.querySelector(".cap").textContent =
      `Deployment ${c.deployment_id} · camera ${c.camera_id} · ${state}`;
  }
  const none = document.getElementById("no-cameras");
  if (none) { none.hidden = cams.length > 0; }
}

function fillDefaultTimes() {
  // datetime-local inputs take the browser's local time: fill defaults here, not on the server
  const pad = (n) => String(n).padStart(2, "0");
  for (const el of document.querySelectorAll("input[type=datetime-local][data-offset-hours]")) {
    if (el.value) { continue; }
    const d = new Date(Date.now() + Number(el.dataset.offsetHours) * 3600 * 1000);
    el.value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  fillDefaultTimes();
  const cams = document.getElementById("cameras");
  if (cams && cams.dataset.list) {
    refreshCameras(cams);
    setInterval(() => refreshCameras(cams), 3000);
  }
});
