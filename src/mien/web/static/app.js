/* mien web page: plain JavaScript, no framework, no build step.
 *
 * Talks to the HTTP API under /api (see /docs). State lives in `S`; the control panel is
 * generated from GET /api/controls. Previews: every control change makes a request with an
 * increasing `seq`; at most one request is in flight and only the newest change waits
 * behind it (older pending ones are replaced), and an answer older than what is already
 * drawn is dropped. `window.mien` exposes state and round-trip timings for the browser tests.
 */
"use strict";

const AU_NAMES = {
  "1": "inner brow raiser", "2": "outer brow raiser", "4": "brow lowerer", "5": "upper lid raiser",
  "6": "cheek raiser", "7": "lid tightener", "9": "nose wrinkler", "10": "upper lip raiser",
  "11": "nasolabial deepener", "12": "lip corner puller (smile)", "14": "dimpler",
  "15": "lip corner depressor", "17": "chin raiser", "20": "lip stretcher", "23": "lip tightener",
  "24": "lip pressor", "25": "lips part", "26": "jaw drop", "28": "lip suck", "43": "eyes closed",
};
const BURST_REGIONS = ["eyes", "mouth", "brows"];

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
};

const S = {
  registry: null,          // GET /api/controls
  byName: {},              // control name -> registry entry
  controls: null,          // current control values (see resetControls)
  touched: new Set(),      // amounts (magnify/keep) the user moved: only these are sent
  shots: [],               // uploaded sessions: {id, name, width, height, faces, url, scale, img, suggest}
  pose: null,              // the shot being edited
  face: 0,                 // chosen face index in the pose shot
  burst: {},               // region -> shot id
  seq: 0,                  // last seq handed out
  drawnSeq: 0,             // newest seq drawn
  inFlight: null,          // {seq, t0}
  pending: null,           // {seq, t0, body}
  after: null,             // ImageBitmap of the newest preview
  crop: null,              // [x0, y0, x1, y1] photo px of the preview crop
  showBefore: false,
  split: 0,
  zoom: false,
  video: null,             // {file, url, duration}
  keys: [],                // [{time, text}]
  otherKeys: [],           // keyframe entries typed by frame number (`96f:...`), kept as typed
  job: null,
};

/* ------------------------------------------------------------------ messages and API */

/** Show an error. `source` "preview" marks one that the next drawn preview clears. */
function showError(err, source = "") {
  const text = typeof err === "string" ? err : (err && err.message) || String(err);
  $("message-text").textContent = text;
  $("message").hidden = false;
  $("message").classList.remove("info");
  $("message").dataset.source = source;
}
function showInfo(text) {
  $("message").dataset.source = "";
  $("message-text").textContent = text;
  $("message").hidden = false;
  $("message").classList.add("info");
}
function clearMessage() { $("message").hidden = true; }

let busyCount = 0;
function busy(delta, text) {
  busyCount += delta;
  $("busy").textContent = busyCount > 0 ? (text || "Working…") : "";
  document.body.classList.toggle("is-busy", busyCount > 0);
}

class ApiError extends Error {
  constructor(status, body) {
    let msg = (body && body.error) || `The server answered ${status}`;
    if (body && body.param) msg += ` (${body.param}${body.allowed ? `: allowed ${body.allowed}` : ""})`;
    super(msg);
    this.status = status;
    this.body = body;
  }
}

/** fetch under /api; throws ApiError with the API's JSON `error` on a non-2xx answer. */
async function api(path, opts = {}) {
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new Error(`Cannot reach the mien server (${e.message}). Is \`mien serve\` still running?`);
  }
  if (!res.ok) {
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(res.status, body);
  }
  return res;
}
const jsonBody = (obj) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(obj) });

/* ------------------------------------------------------------------ control panel */

function defaultControls() {
  const c = { emotion: null, intensity: 1, au: {}, neutralize: false };
  for (const r of S.registry.controls) if (r.name !== "intensity") c[r.name] = r.default;
  const amount = S.byName.intensity;
  if (amount) c.intensity = amount.default;
  return c;
}

function fmt(v) { return Number.isInteger(v) ? String(v) : (Math.round(v * 100) / 100).toString(); }
function stepFor(r) { return r.kind === "rotation" ? 0.5 : (r.high - r.low) > 2 ? 0.05 : 0.02; }

function sliderRow(id, label, low, high, step, value, help, onInput) {
  const input = el("input", { type: "range", id, min: low, max: high, step, value, "aria-describedby": help ? id + "-help" : null });
  const out = el("output", { for: id, id: id + "-out", text: fmt(value) });
  input.addEventListener("input", () => { out.textContent = fmt(Number(input.value)); onInput(Number(input.value)); });
  const row = el("div", { class: "slider-row" },
    el("label", { for: id, text: label }), input, out);
  if (help) row.append(el("small", { id: id + "-help", class: "help", text: help }));
  return row;
}

function buildPanel() {
  const reg = S.registry;
  const emo = $("emotions");
  emo.replaceChildren();
  for (const name of ["none", ...reg.emotions]) {
    const b = el("button", { type: "button", class: "emotion", "data-emotion": name, "aria-pressed": name === "none" ? "true" : "false", text: name });
    b.addEventListener("click", () => { S.controls.emotion = name === "none" ? null : name; syncPanel(); changed(); });
    emo.append(b);
  }
  const intensity = S.byName.intensity;
  $("intensity-row").replaceChildren(sliderRow("c-intensity", "Intensity", intensity.low, intensity.high, 0.05,
    intensity.default, intensity.help, (v) => { S.controls.intensity = v; changed(); }));

  const sliders = $("sliders"), amounts = $("amounts");
  sliders.replaceChildren(); amounts.replaceChildren();
  for (const r of reg.controls) {
    if (r.name === "intensity") continue;
    const label = r.name.replace(/_/g, " ") + (r.unit ? ` (${r.unit})` : "");
    const row = sliderRow("c-" + r.name, label, r.low, r.high, stepFor(r), r.default, r.help, (v) => {
      S.controls[r.name] = v;
      if (r.kind === "amount") S.touched.add(r.name);
      changed();
    });
    (r.kind === "amount" ? amounts : sliders).append(row);
  }
  const aus = $("aus");
  aus.replaceChildren();
  for (const au of reg.aus) {
    const name = AU_NAMES[au] ? `AU${au} ${AU_NAMES[au]}` : `AU${au}`;
    aus.append(sliderRow("au-" + au, name, 0, 1, 0.05, 0, null, (v) => {
      if (v) S.controls.au[au] = v; else delete S.controls.au[au];
      changed();
    }));
  }
  $("neutralize").addEventListener("change", (e) => { S.controls.neutralize = e.target.checked; changed(); });
}

/** Put S.controls back into the inputs (after reset or loading a preset). */
function syncPanel() {
  const c = S.controls;
  for (const b of $("emotions").children) b.setAttribute("aria-pressed", String((c.emotion || "none") === b.dataset.emotion));
  const set = (id, v) => { const i = $(id); if (i) { i.value = v; $(id + "-out").textContent = fmt(Number(v)); } };
  set("c-intensity", c.intensity);
  for (const r of S.registry.controls) if (r.name !== "intensity") set("c-" + r.name, c[r.name]);
  for (const au of S.registry.aus) set("au-" + au, c.au[au] || 0);
  $("neutralize").checked = !!c.neutralize;
  $("c-intensity").disabled = !c.emotion;
}

/** The controls as the API takes them: only what differs from doing nothing. */
function controlsForApi() {
  const c = S.controls, out = {};
  if (c.emotion) { out.emotion = c.emotion; out.intensity = c.intensity; }
  for (const r of S.registry.controls) {
    if (r.name === "intensity") continue;
    const v = c[r.name];
    if (r.kind === "amount") { if (S.touched.has(r.name) && v !== r.default) out[r.name] = v; }
    else if (v) out[r.name] = v;
  }
  const au = {};
  for (const [k, v] of Object.entries(c.au)) if (v) au[k] = v;
  if (Object.keys(au).length) out.au = au;
  if (c.neutralize) out.neutralize = true;
  return out;
}

/** Controls from a preset / API answer back into the panel's state. */
function applyControls(ctrl) {
  const c = defaultControls();
  S.touched.clear();
  for (const [k, v] of Object.entries(ctrl || {})) {
    if (k === "emotion") c.emotion = v;
    else if (k === "au") c.au = { ...v };
    else if (k === "neutralize") c.neutralize = !!v;
    else if (k in S.byName) { c[k] = Number(v); if (S.byName[k].kind === "amount" && k !== "intensity") S.touched.add(k); }
  }
  S.controls = c;
  syncPanel();
  changed();
}

/** Keyframe text for the current controls: `happy@0.6+smile=0.2+au12=0.5` (`none` if nothing). */
function controlsText(ctrl = controlsForApi()) {
  const parts = [];
  if (ctrl.emotion) parts.push(`${ctrl.emotion}@${fmt(ctrl.intensity)}`);
  if (ctrl.neutralize) parts.push("neutralize");
  for (const [k, v] of Object.entries(ctrl)) {
    if (["emotion", "intensity", "au", "neutralize"].includes(k)) continue;
    parts.push(`${k.replace(/_/g, "-")}=${fmt(v)}`);
  }
  for (const [k, v] of Object.entries(ctrl.au || {})) parts.push(`au${k}=${fmt(v)}`);
  return parts.length ? parts.join("+") : "none";
}

/* ------------------------------------------------------------------ photos and faces */

/** Upload photos. `add` false: they replace the shots (a new photo or a new burst); true: they
 * join the burst strip and the pose shot stays. */
async function uploadPhotos(files, add = false) {
  files = [...files].filter(Boolean);
  if (!files.length) return;
  clearMessage();
  if (!add) {
    for (const shot of S.shots) { api(`/api/sessions/${shot.id}`, { method: "DELETE" }).catch(() => {}); URL.revokeObjectURL(shot.url); }
    S.shots = []; S.pose = null; S.burst = {}; S.face = 0;
  }
  busy(1, files.length > 1 ? `Analysing ${files.length} photos…` : "Analysing the photo…");
  const added = [];
  try {
    for (const file of files) {
      const fd = new FormData();
      fd.append("photo", file, file.name);
      let info;
      try {
        info = await (await api("/api/sessions", { method: "POST", body: fd })).json();
      } catch (e) {
        showError(`${file.name}: ${e.message}`);
        continue;
      }
      const res = await api(`/api/sessions/${info.id}/photo`);
      const blob = await res.blob();
      const shot = { ...info, name: file.name || info.name, url: URL.createObjectURL(blob), scale: Number(res.headers.get("X-Scale")) || 1, suggest: null };
      shot.img = await loadImage(shot.url);
      S.shots.push(shot);
      added.push(shot);
    }
  } catch (e) {
    showError(e);
  } finally {
    busy(-1);
  }
  if (!added.length) return;
  choosePose(S.pose || added[0]);
  renderShots();
  loadSuggestions();
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("The browser could not show this image"));
    img.src = url;
  });
}

function choosePose(shot) {
  S.pose = shot;
  for (const r of BURST_REGIONS) if (S.burst[r] === shot.id) delete S.burst[r];
  $("work").hidden = false;
  $("photo").src = shot.url;
  $("photo").alt = `The photo ${shot.name}`;
  const n = shot.faces.length;
  $("photo-caption").textContent = `${shot.name}: ${shot.width}×${shot.height} ${shot.format || ""}, ` +
    (n === 1 ? "1 face" : `${n} faces`) + (n > 1 ? " (click a number to choose)" : "");
  drawFaces();
  chooseFace(Math.min(S.face, Math.max(0, n - 1)));
  $("download").disabled = n === 0;
  renderShots();
  renderBurst();
}

function drawFaces() {
  const box = $("faces"), shot = S.pose;
  box.replaceChildren();
  shot.faces.forEach((f) => {
    const [x0, y0, x1, y1] = f.box;
    const b = el("button", {
      type: "button", class: "face", "data-face": f.index,
      "aria-label": `Face ${f.index + 1}`, "aria-pressed": String(f.index === S.face),
      style: `left:${100 * x0 / shot.width}%;top:${100 * y0 / shot.height}%;` +
             `width:${100 * (x1 - x0) / shot.width}%;height:${100 * (y1 - y0) / shot.height}%`,
    }, el("span", { text: String(f.index + 1) }));
    b.addEventListener("click", () => chooseFace(f.index));
    box.append(b);
  });
}

function chooseFace(i) {
  S.face = i;
  for (const b of $("faces").children) b.setAttribute("aria-pressed", String(Number(b.dataset.face) === i));
  if (S.after) S.after.close();
  S.after = null; S.crop = null;
  if (S.pose.faces.length) changed();
  else { drawPreview(); showError("No face was found in this photo; try another one (a face at least ~80 px across)."); }
}

function renderShots() {
  const strip = $("shot-strip");
  $("shots").hidden = !S.shots.length;
  strip.hidden = $("shots-h").hidden = S.shots.length < 2;
  $("drop").classList.toggle("compact", S.shots.length > 0);
  $("drop-title").textContent = S.shots.length ? "Drop another photo" : "Drop a photo here";
  strip.replaceChildren();
  for (const shot of S.shots) {
    const isPose = shot === S.pose;
    const li = el("li", { class: "shot" + (isPose ? " is-pose" : "") },
      el("img", { src: shot.url, alt: "" }),
      el("span", { class: "shot-name", text: shot.name }),
      el("button", { type: "button", "aria-pressed": String(isPose), "data-shot": shot.id,
        onclick: () => { choosePose(shot); }, text: isPose ? "Pose shot" : "Use as pose" }),
      el("button", { type: "button", class: "link", "aria-label": `Remove ${shot.name}`, onclick: () => removeShot(shot), text: "Remove" }));
    strip.append(li);
  }
}

async function removeShot(shot) {
  S.shots = S.shots.filter((s) => s !== shot);
  for (const r of BURST_REGIONS) if (S.burst[r] === shot.id) delete S.burst[r];
  api(`/api/sessions/${shot.id}`, { method: "DELETE" }).catch(() => {});
  URL.revokeObjectURL(shot.url);
  if (S.pose === shot) {
    if (S.shots.length) choosePose(S.shots[0]);
    else { S.pose = null; $("work").hidden = true; $("download").disabled = true; }
  }
  renderShots(); renderBurst(); changed();
}

/* ------------------------------------------------------------------ burst */

async function loadSuggestions() {
  await Promise.all(S.shots.filter((s) => !s.suggest).map(async (s) => {
    try { s.suggest = await (await api(`/api/sessions/${s.id}/suggest`)).json(); }
    catch (e) { s.suggest = { error: e.message }; }
  }));
  renderBurst();
}

/** The suggest scores of `shot` for the face being edited (same index, else the first). */
function scores(shot) {
  const sg = shot.suggest;
  if (!sg || sg.error) return null;
  const list = Array.isArray(sg) ? sg : (sg.faces || []);
  if (!list.length) return null;
  const f = list.find((x) => x.index === S.face) || list[Math.min(S.face, list.length - 1)];
  return f || null;
}

// region -> [score, words, margin]: another shot is suggested only when it beats the pose
// shot by more than the margin (sharpness: a ratio; the others: a difference).
const REGION_SCORE = {
  eyes: ["eyes_open", "eyes most open", 0.05],
  mouth: ["smile", "broadest smile", 0.05],
  brows: ["sharpness", "sharpest", 1.1],
};

function suggestion(region) {
  const [key, words, margin] = REGION_SCORE[region];
  let best = null, bestV = -Infinity, poseV = null;
  const beats = (v, w) => (key === "sharpness" ? v > w * margin : v > w + margin);
  // The pose shot first: on a tie, or a small lead, it stays the suggestion (no change needed).
  for (const shot of [S.pose, ...S.shots.filter((s) => s !== S.pose)]) {
    const sc = scores(shot);
    if (!sc || typeof sc[key] !== "number") continue;
    if (shot === S.pose) poseV = sc[key];
    if (best === null || (best === S.pose ? beats(sc[key], bestV) : sc[key] > bestV)) { bestV = sc[key]; best = shot; }
  }
  if (!best) return null;
  const reason = `${words}: ${key.replace("_", " ")} ${fmt(bestV)}` + (poseV !== null && best !== S.pose ? ` (pose shot ${fmt(poseV)})` : "");
  return { shot: best, reason };
}

function renderBurst() {
  const box = $("burst-regions");
  $("burst").hidden = S.shots.length < 2 || !S.pose;
  if ($("burst").hidden) return;
  box.replaceChildren();
  for (const region of BURST_REGIONS) {
    const sel = el("select", { id: "burst-" + region });
    sel.append(el("option", { value: "", text: "the pose shot (no change)" }));
    for (const shot of S.shots) if (shot !== S.pose) sel.append(el("option", { value: shot.id, text: shot.name }));
    sel.value = S.burst[region] || "";
    sel.addEventListener("change", () => {
      if (sel.value) S.burst[region] = sel.value; else delete S.burst[region];
      changed();
    });
    const sug = suggestion(region);
    const sugEl = el("p", { class: "suggest small" });
    if (sug) {
      const useIt = sug.shot === S.pose ? null : el("button", { type: "button", class: "link",
        onclick: () => { S.burst[region] = sug.shot.id; renderBurst(); changed(); }, text: "use it" });
      sugEl.append(`Suggested: ${sug.shot === S.pose ? "the pose shot" : sug.shot.name} — ${sug.reason}. `);
      if (useIt) sugEl.append(useIt);
    } else {
      sugEl.textContent = S.shots.some((s) => !s.suggest) ? "Scoring the shots…" : "No suggestion.";
    }
    box.append(el("div", { class: "burst-region" }, el("label", { for: "burst-" + region, text: region[0].toUpperCase() + region.slice(1) + " from" }), sel, sugEl));
  }
}

function burstForApi() {
  const ids = new Set(S.shots.map((s) => s.id));
  const b = {};
  for (const r of BURST_REGIONS) if (S.burst[r] && ids.has(S.burst[r]) && S.burst[r] !== S.pose.id) b[r] = S.burst[r];
  if (!Object.keys(b).length) return null;
  b.strength = Number($("burst-strength").value);
  return b;
}

/* ------------------------------------------------------------------ previews */

function requestBody(seq) {
  const body = { face: S.face, controls: controlsForApi(), burst: burstForApi() };
  if (seq !== undefined) body.seq = seq;
  return body;
}

/** A control moved: queue a preview (replacing any older pending one). */
function changed() {
  if (!S.pose || !S.pose.faces.length) return;
  const seq = ++S.seq;
  S.pending = { seq, t0: performance.now(), body: requestBody(seq), shot: S.pose };
  pump();
}

async function pump() {
  if (S.inFlight || !S.pending) return;
  const job = S.pending;
  S.pending = null;
  S.inFlight = job;
  try {
    const tSend = performance.now();
    const res = await fetch(`/api/sessions/${job.shot.id}/preview`, jsonBody(job.body));
    const tHeaders = performance.now();
    if (res.status === 409) return;                    // the server saw a newer seq: stale
    if (!res.ok) {
      let body = null; try { body = await res.json(); } catch (_) { /* */ }
      if (job.seq >= S.drawnSeq && !S.pending) showError(new ApiError(res.status, body), "preview");
      return;
    }
    const crop = (res.headers.get("X-Crop") || "").split(",").map(Number);
    const renderMs = Number(res.headers.get("X-Render-Ms"));
    const blob = await res.blob();
    if (job.seq <= S.drawnSeq || job.shot !== S.pose) return;   // stale: something newer is drawn
    const tBlob = performance.now();
    const bmp = await createImageBitmap(blob);
    const tDecoded = performance.now();
    if (job.seq <= S.drawnSeq || job.shot !== S.pose) { bmp.close(); return; }
    S.drawnSeq = job.seq;
    if (S.after) S.after.close();                     // free the decoded pixels now, not at GC
    S.after = bmp;
    S.crop = crop.length === 4 && crop.every(Number.isFinite) ? crop : null;
    drawPreview();
    scheduleFull();
    if ($("message").dataset.source === "preview") clearMessage();
    requestAnimationFrame(() => {
      const now = performance.now(), ms = now - job.t0;
      window.mien.roundTrips.push(ms);
      // Where the time went: queued behind another request, answer, body, decode, draw + frame.
      window.mien.phases.push({ queued: tSend - job.t0, answer: tHeaders - tSend, body: tBlob - tHeaders,
        decode: tDecoded - tBlob, paint: now - tDecoded });
      window.mien.renderMs.push(renderMs);
      window.mien.drawn = job.seq;
      $("preview-info").textContent = `${Math.round(ms)} ms (server ${Number.isFinite(renderMs) ? Math.round(renderMs) : "?"} ms)`;
    });
  } catch (e) {
    showError(e.message.startsWith("Cannot reach") ? e : `Preview failed: ${e.message}`, "preview");
  } finally {
    S.inFlight = null;
    if (S.pending) pump();
  }
}

/** Draw before / after / split into the preview canvas. At "100 %" the canvas is the crop
 * at the photo's own pixel size, drawn from full-resolution renders once they arrive (the
 * preview scaled up until then). */
function drawPreview() {
  const cv = $("preview"), ctx = cv.getContext("2d");
  const after = S.after;
  if (!after) { ctx.clearRect(0, 0, cv.width, cv.height); return; }
  const zoom = S.zoom && S.crop;
  const [x0, y0, x1, y1] = S.crop || [0, 0, 0, 0];
  const W = zoom ? Math.round(x1 - x0) : after.width, H = zoom ? Math.round(y1 - y0) : after.height;
  if (cv.width !== W || cv.height !== H) { cv.width = W; cv.height = H; }
  const full = zoom && S.full && S.full.key === fullKey() ? S.full.bmp : null;
  if (full) ctx.drawImage(full, x0, y0, W, H, 0, 0, W, H);
  else ctx.drawImage(after, 0, 0, W, H);
  const beforeSplit = S.showBefore ? 1 : S.split / 100;
  if (beforeSplit > 0 && S.crop && S.pose) {
    const cw = Math.round(W * beforeSplit);
    ctx.save();
    ctx.beginPath(); ctx.rect(0, 0, cw, H); ctx.clip();
    const orig = zoom && S.pose.full;
    if (orig) ctx.drawImage(orig, x0, y0, W, H, 0, 0, W, H);
    else {
      const k = S.pose.scale;
      ctx.drawImage(S.pose.img, x0 * k, y0 * k, (x1 - x0) * k, (y1 - y0) * k, 0, 0, W, H);
    }
    ctx.restore();
  }
  $("preview-box").classList.toggle("zoomed", !!zoom);
  $("zoom-info").textContent = !S.zoom ? "" : full ? "100 %: full-resolution pixels" : "100 %: preview pixels scaled up (full resolution on its way…)";
  $("before-tag").hidden = !S.showBefore;
  const line = $("split-line");
  line.hidden = S.showBefore || S.split <= 0 || S.split >= 100;
  positionSplitLine();
  cv.setAttribute("aria-label", S.showBefore ? "The chosen face before the edit" :
    S.split > 0 ? `Split view: before on the left ${S.split} %, after on the right` : "Preview of the edited face");
}

/** Put the split line over the canvas's drawn content (letterboxed when fitted, wider than
 * the scrolling box at 100 %). */
function positionSplitLine() {
  const cv = $("preview"), line = $("split-line");
  if (line.hidden) return;
  const ew = cv.clientWidth, eh = cv.clientHeight, a = cv.width / cv.height;
  const cw = ew / eh > a ? eh * a : ew, ch = ew / eh > a ? eh : ew / a;
  line.style.left = `${cv.offsetLeft + (ew - cw) / 2 + cw * S.split / 100}px`;
  line.style.top = `${cv.offsetTop + (eh - ch) / 2}px`;
  line.style.height = `${ch}px`;
}

/** What the full-resolution render depends on (controls, face, burst, shot). */
function fullKey() { return S.pose ? S.pose.id + JSON.stringify(requestBody()) : ""; }

let fullTimer = null;
/** At 100 %: once the controls rest, render the full resolution (and the original once per shot). */
function scheduleFull() {
  clearTimeout(fullTimer);
  if (!S.zoom || !S.pose || !S.pose.faces.length) return;
  fullTimer = setTimeout(fetchFull, 350);
}

async function fetchFull() {
  const shot = S.pose, key = fullKey();
  if (!S.zoom || !shot) return;
  try {
    if (!shot.full) {
      const res = await api(`/api/sessions/${shot.id}/render`, jsonBody({ face: S.face, controls: {}, burst: null }));
      shot.full = await createImageBitmap(await res.blob(), { imageOrientation: "none" });
    }
    if (!(S.full && S.full.key === key)) {
      const res = await api(`/api/sessions/${shot.id}/render`, jsonBody(requestBody()));
      const bmp = await createImageBitmap(await res.blob(), { imageOrientation: "none" });
      if (key !== fullKey()) return;                   // the controls moved on meanwhile
      if (S.full) S.full.bmp.close();
      S.full = { key, bmp };
    }
    drawPreview();
  } catch (e) {
    $("zoom-info").textContent = `100 %: preview pixels (full resolution failed: ${e.message})`;
  }
}

/* ------------------------------------------------------------------ presets and download */

function savePreset() {
  const preset = { mien_preset: 1, controls: controlsForApi() };
  const blob = new Blob([JSON.stringify(preset, null, 2) + "\n"], { type: "application/json" });
  const name = (S.controls.emotion || "expression") + "-preset.json";
  saveBlob(blob, name);
  showInfo(`Saved ${name}: ${controlsText(preset.controls)}`);
}

async function loadPreset(file) {
  if (!file) return;
  let preset;
  try {
    preset = JSON.parse(await file.text());
  } catch (e) {
    showError(`${file.name} is not a JSON preset (${e.message})`);
    return;
  }
  try {
    const ok = await (await api("/api/presets/check", jsonBody(preset))).json();
    applyControls(ok.controls);
    showInfo(`Loaded ${file.name}: ${controlsText(controlsForApi())}`);
  } catch (e) {
    showError(`${file.name}: ${e.message}`);
  }
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  setTimeout(() => { a.remove(); URL.revokeObjectURL(url); }, 1000);
}

async function downloadFull() {
  if (!S.pose) return;
  busy(1, "Rendering at full resolution…");
  $("download").disabled = true;
  try {
    const res = await api(`/api/sessions/${S.pose.id}/render`, jsonBody(requestBody()));
    const cd = res.headers.get("Content-Disposition") || "";
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
    const name = m ? decodeURIComponent(m[1]) : S.pose.name.replace(/\.[^.]+$/, "") + "-mien.jpg";
    saveBlob(await res.blob(), name);
  } catch (e) {
    showError(`Full-resolution render failed: ${e.message}`);
  } finally {
    busy(-1);
    $("download").disabled = !S.pose || !S.pose.faces.length;
  }
}

/* ------------------------------------------------------------------ video */

function setVideo(file) {
  if (!file) return;
  if (S.video) URL.revokeObjectURL(S.video.url);
  S.video = { file, url: URL.createObjectURL(file), duration: 0 };
  const v = $("video");
  v.src = S.video.url;
  $("video-work").hidden = false;
  $("job-download").hidden = true;
  $("job-status").textContent = `${file.name} (${(file.size / 1e6).toFixed(1)} MB)`;
  $("video-drop").classList.add("compact");
  $("video-title").textContent = `${file.name}: choose another video`;
  $("video-help").open = false;
  S.keys = []; S.otherKeys = []; keysToText();
  clearMessage();
  v.onloadedmetadata = () => {
    S.video.duration = Number.isFinite(v.duration) ? v.duration : 0;
    $("playhead").max = String(S.video.duration);
    renderTimeline();
  };
  // Until the browser knows the length (or if it cannot play this format) the playhead
  // still moves over the first minute; keys, frame previews and rendering run on the server.
  $("playhead").max = "60";
  v.onerror = () => showInfo("This browser cannot play the video; keyframes, frame previews and rendering still work on the server.");
}

function playheadTime() { return Number($("playhead").value) || 0; }

function addKey() {
  const time = Math.round(playheadTime() * 100) / 100;
  S.keys = S.keys.filter((k) => Math.abs(k.time - time) > 1e-6);
  S.keys.push({ time, text: controlsText() });
  S.keys.sort((a, b) => a.time - b.time);
  keysToText();
}

function keysToText() {
  $("keyframes").value = [...S.keys.map((k) => `${fmt(k.time)}s:${k.text}`), ...S.otherKeys].join(", ");
  renderTimeline();
}

/** Parse the text field back into keys. Times `4s`, `4.5s` and `1:02.5` are placed on the
 * timeline; frame numbers (`96f`) need the clip's frame rate and stay in the text only. */
function textToKeys() {
  const keys = [], other = [];
  for (const part of $("keyframes").value.split(",")) {
    let m = /^\s*(\d+(?:\.\d*)?)\s*s\s*:\s*(.+?)\s*$/.exec(part);
    if (m) { keys.push({ time: Number(m[1]), text: m[2] }); continue; }
    m = /^\s*(\d+):(\d{1,2}(?:\.\d*)?)\s*:\s*(.+?)\s*$/.exec(part);
    if (m) keys.push({ time: 60 * Number(m[1]) + Number(m[2]), text: m[3] });
    else if (part.trim()) other.push(part.trim());
  }
  S.keys = keys.sort((a, b) => a.time - b.time);
  S.otherKeys = other;
  renderTimeline();
}

function renderTimeline() {
  const tl = $("timeline"), list = $("key-list");
  const dur = (S.video && S.video.duration) || Math.max(1, ...S.keys.map((k) => k.time));
  tl.replaceChildren(el("div", { class: "playhead-mark", style: `left:${100 * playheadTime() / dur}%` }));
  list.replaceChildren();
  S.keys.forEach((k, i) => {
    const go = () => { $("playhead").value = String(k.time); onPlayhead(); };
    tl.append(el("button", { type: "button", class: "key", style: `left:${Math.min(100, 100 * k.time / dur)}%`,
      title: `${fmt(k.time)} s: ${k.text}`, "aria-label": `Key at ${fmt(k.time)} seconds: ${k.text}`, onclick: go }));
    list.append(el("li", {}, el("button", { type: "button", class: "link", onclick: go, text: `${fmt(k.time)} s` }),
      ` ${k.text} `,
      el("button", { type: "button", class: "link", "aria-label": `Delete the key at ${fmt(k.time)} seconds`,
        onclick: () => { S.keys.splice(i, 1); keysToText(); }, text: "delete" })));
  });
}

function onPlayhead() {
  const t = playheadTime();
  $("playhead-out").textContent = `${t.toFixed(2)} s`;
  const v = $("video");
  if (v.readyState > 0 && Math.abs(v.currentTime - t) > 0.02) v.currentTime = t;
  renderTimeline();
}

async function previewFrame() {
  if (!S.video) return;
  const fd = new FormData();
  fd.append("video", S.video.file, S.video.file.name);
  fd.append("time", String(playheadTime()));
  fd.append("controls", JSON.stringify(controlsForApi()));
  busy(1, "Editing one frame…");
  try {
    const blob = await (await api("/api/videos/frame", { method: "POST", body: fd })).blob();
    const img = $("frame");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    $("frame-figure").hidden = false;
    clearMessage();
    $("frame-caption").textContent = `Frame at ${playheadTime().toFixed(2)} s with ${controlsText()}`;
  } catch (e) {
    showError(`Frame preview failed: ${e.message}`);
  } finally {
    busy(-1);
  }
}

async function startJob() {
  if (!S.video) return;
  const text = $("keyframes").value.trim();
  const fd = new FormData();
  fd.append("video", S.video.file, S.video.file.name);
  if (text) fd.append("keyframes", text);
  else fd.append("controls", JSON.stringify(controlsForApi()));
  $("job-start").disabled = true;
  $("job-download").hidden = true;
  $("job-status").textContent = "Uploading…";
  try {
    const { job } = await (await api("/api/videos", { method: "POST", body: fd })).json();
    S.job = job;
    clearMessage();
    $("job-cancel").disabled = false;
    pollJob(job);
  } catch (e) {
    showError(`The video job was refused: ${e.message}`);
    $("job-status").textContent = "";
    $("job-start").disabled = false;
  }
}

async function pollJob(job) {
  while (S.job === job) {
    let st;
    try { st = await (await api(`/api/jobs/${job}`)).json(); }
    catch (e) { showError(`Lost the video job: ${e.message}`); break; }
    const p = $("job-progress");
    p.max = st.total || 1; p.value = st.done || 0;
    $("job-status").textContent = `${st.status}` + (st.total ? `: frame ${st.done} of ${st.total}` : "") + (st.message ? ` — ${st.message}` : "");
    if (st.status === "done") {
      const a = $("job-download");
      a.href = `/api/jobs/${job}/download`;
      a.download = S.video.file.name.replace(/\.[^.]+$/, "") + "-mien.mp4";
      a.hidden = false;
      const sum = st.summary && (typeof st.summary === "string" ? st.summary : st.summary.text);
      if (sum && !(st.message || "").includes(sum)) $("job-status").textContent += ` ${sum}`;
      break;
    }
    if (st.status === "failed") { showError(`The video failed: ${st.message || "unknown error"}`); break; }
    if (st.status === "cancelled") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (S.job === job) { S.job = null; $("job-cancel").disabled = true; $("job-start").disabled = false; }
}

async function cancelJob() {
  if (!S.job) return;
  try { await api(`/api/jobs/${S.job}/cancel`, { method: "POST" }); $("job-status").textContent = "Cancelling…"; }
  catch (e) { showError(`Cancel failed: ${e.message}`); }
}

/* ------------------------------------------------------------------ wiring */

function selectTab(name) {
  for (const t of ["photo", "video"]) {
    const on = t === name;
    $("tab-" + t).setAttribute("aria-selected", String(on));
    $("tab-" + t).tabIndex = on ? 0 : -1;
    $("panel-" + t).hidden = !on;
  }
}

function wire() {
  $("message-close").addEventListener("click", clearMessage);
  $("tab-photo").addEventListener("click", () => selectTab("photo"));
  $("tab-video").addEventListener("click", () => selectTab("video"));
  for (const t of ["photo", "video"]) {
    $("tab-" + t).addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        const other = t === "photo" ? "video" : "photo";
        selectTab(other); $("tab-" + other).focus(); e.preventDefault();
      }
    });
  }
  $("photo-input").addEventListener("change", (e) => { uploadPhotos(e.target.files); e.target.value = ""; });
  $("shot-input").addEventListener("change", (e) => { uploadPhotos(e.target.files, true); e.target.value = ""; });
  const drop = $("drop");
  for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); uploadPhotos(e.dataTransfer.files); });
  // A file dropped anywhere else must not make the browser navigate away.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  $("before-after").addEventListener("click", () => {
    S.showBefore = !S.showBefore;
    $("before-after").setAttribute("aria-pressed", String(S.showBefore));
    $("before-after").textContent = S.showBefore ? "Show after" : "Show before";
    drawPreview();
  });
  window.addEventListener("resize", positionSplitLine);
  $("split").addEventListener("input", (e) => { S.split = Number(e.target.value); drawPreview(); });
  $("zoom").addEventListener("click", () => {
    S.zoom = !S.zoom;
    $("zoom").setAttribute("aria-pressed", String(S.zoom));
    $("zoom").textContent = S.zoom ? "Fit" : "Zoom 100 %";
    drawPreview();
    scheduleFull();
    if (S.zoom) $("preview-box").scrollTo({ left: ($("preview").width - $("preview-box").clientWidth) / 2, top: 0 });
  });
  $("burst-strength").addEventListener("input", (e) => { $("burst-strength-out").textContent = e.target.value; changed(); });
  $("reset").addEventListener("click", () => { S.controls = defaultControls(); S.touched.clear(); syncPanel(); changed(); });
  $("download").addEventListener("click", downloadFull);
  $("preset-save").addEventListener("click", savePreset);
  $("preset-input").addEventListener("change", (e) => { loadPreset(e.target.files[0]); e.target.value = ""; });

  $("video-input").addEventListener("change", (e) => setVideo(e.target.files[0]));
  const vdrop = $("video-drop");
  for (const ev of ["dragenter", "dragover"]) vdrop.addEventListener(ev, (e) => { e.preventDefault(); vdrop.classList.add("over"); });
  for (const ev of ["dragleave", "drop"]) vdrop.addEventListener(ev, () => vdrop.classList.remove("over"));
  vdrop.addEventListener("drop", (e) => { e.preventDefault(); setVideo(e.dataTransfer.files[0]); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("message").hidden) clearMessage(); });
  // Hidden file inputs keep the focus: Enter opens them as space does.
  for (const input of document.querySelectorAll("input[type=file]")) {
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); input.click(); } });
  }
  $("playhead").addEventListener("input", onPlayhead);
  $("video").addEventListener("timeupdate", () => {
    const v = $("video");
    if (!v.paused) { $("playhead").value = String(v.currentTime); $("playhead-out").textContent = `${v.currentTime.toFixed(2)} s`; renderTimeline(); }
  });
  $("key-add").addEventListener("click", addKey);
  $("keyframes").addEventListener("change", textToKeys);
  $("frame-preview").addEventListener("click", previewFrame);
  $("job-start").addEventListener("click", startJob);
  $("job-cancel").addEventListener("click", cancelJob);
}

async function main() {
  window.mien = { S, roundTrips: [], renderMs: [], phases: [], drawn: 0, ready: false, controlsForApi, controlsText };
  wire();
  try {
    S.registry = await (await api("/api/controls")).json();
  } catch (e) {
    showError(`Could not load the controls: ${e.message}`);
    return;
  }
  for (const r of S.registry.controls) S.byName[r.name] = r;
  S.controls = defaultControls();
  buildPanel();
  syncPanel();
  window.mien.ready = true;
  document.body.dataset.ready = "1";
}

main();
