// rewardsmith review page: plain JS, no build step. Everything from the run (LLM code, comments) is inserted as
// text, never as HTML.
"use strict";

const state = {
  run: null,        // /api/run
  gen: null,        // generation shown
  detail: null,     // /api/generation/<gen>
  editable: false,  // awaiting a ranking and not ranked yet
  order: [],        // rankable ids, best -> worst
  rate: 1,
  view: "generation",  // or "overview"
  overview: null,   // /api/overview
  reviewer: "",     // this person's name (remembered in localStorage); several reviewers may rank a generation
  deadline: null,   // {at: Date.now() ms when it passes, then: words}: the review deadline of the generation shown
};

const NAME_KEY = "rewardsmith.reviewer";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  return Number(value.toPrecision(digits)).toString();
}

function pct(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`;
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${url}: HTTP ${response.status}`);
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function showNotice(message) {
  const box = $("notice");
  box.textContent = message || "";
  box.hidden = !message;
}

// ---- run and generation ------------------------------------------------------------------------------------------

async function loadRun() {
  state.run = await getJSON("/api/run");
  const cfg = state.run.config || {};
  $("run-info").textContent = `${state.run.run} · env ${cfg.env} · task “${cfg.task}” · feedback ${cfg.feedback}` +
    (state.run.blind ? " · blind review (no task scores)" : "");
  const picker = $("gen-picker");
  const previous = picker.value;
  picker.replaceChildren(...state.run.generations.map((g) => el("option", {
    value: String(g.generation),
    text: `${g.generation}${g.awaiting ? " — awaiting your ranking" : g.ranked ? " — ranked" : ""}`,
  })));
  if (previous !== "") picker.value = previous;
  return state.run;
}

function detailURL(gen) {
  return `/api/generation/${gen}` + (state.reviewer ? `?reviewer=${encodeURIComponent(state.reviewer)}` : "");
}

async function showGeneration(gen) {
  state.gen = gen;
  $("gen-picker").value = String(gen);
  showError("");
  showNotice("");
  state.detail = await getJSON(detailURL(gen));
  render();
}

function needed() {
  return (state.run && state.run.reviewers) || 1;
}

// what the picks, order and comments show: the decision once there is one, else this reviewer's own ranking
function shown() {
  return state.detail.ranking || state.detail.my_ranking || null;
}

function rankable() {
  return state.detail.candidates.filter((c) => c.rankable).map((c) => c.id);
}

function render() {
  const detail = state.detail;
  const ranking = shown();
  state.editable = detail.awaiting && !detail.ranking;
  state.order = ranking && ranking.order ? [...ranking.order] : rankable();
  if (ranking && !ranking.order) {  // best first, worst last, the rest as listed
    state.order = [ranking.best, ...state.order.filter((i) => i !== ranking.best && i !== ranking.worst), ranking.worst];
  }
  renderStatus();
  setDeadline(detail.deadline);
  renderReviews();
  renderJudge();
  $("cards").replaceChildren(...detail.candidates.map(card));
  $("use-order").checked = Boolean(ranking && ranking.order);
  $("gen-comment").value = ranking ? ranking.generation_comment || "" : "";
  for (const input of document.querySelectorAll("#rank-panel textarea, #rank-panel input, #submit")) {
    input.disabled = !state.editable;
  }
  $("rank-panel").classList.toggle("readonly", !state.editable);
  $("submit").hidden = !state.editable;
  $("submit").textContent = detail.my_ranking && state.editable ? "Update my ranking" : "Submit ranking";
  renderOrder();
  applyPlayback();
}

function renderStatus() {
  const detail = state.detail;
  const ranking = detail.ranking;
  const status = $("gen-status");
  const who = detail.reviewed_by || [];
  if (ranking) {
    const how = ranking.aggregate ? ` — decided: ${agreementText(ranking.aggregate)}`
      : ranking.reviewer ? ` by ${ranking.reviewer}` : "";
    const by = detail.selection && detail.selection.decided_by ? `; decided by ${detail.selection.decided_by}` : "";
    const sure = confidence(detail);
    status.replaceChildren(el("span", { class: "badge ranked", text: "ranked" }),
      ` generation ${detail.generation}: best ${ranking.best}, worst ${ranking.worst} (${ranking.source}, ${ranking.submitted_at})${how}${by}${sure}`);
  } else if (detail.awaiting) {
    const count = needed() > 1 ? ` — ${who.length} of ${needed()} reviewers have ranked${who.length ? ` (${who.join(", ")})` : ""}` : "";
    const mine = detail.my_ranking ? "; you have ranked it and can change your ranking until it is decided" : "";
    status.replaceChildren(el("span", { class: "badge awaiting", text: "awaiting your ranking" }),
      ` generation ${detail.generation}: pick the best and the worst behaviour${count}${mine}`);
  } else {
    status.replaceChildren(el("span", { class: "badge", text: "read-only" }),
      ` generation ${detail.generation} is not waiting for a ranking${confidence(detail)}`);
  }
}

// The selection rule's pick and how sure it is (metrics feedback: rewardsmith/confidence.py); hidden when blind.
function confidence(detail) {
  const choice = detail.selection && detail.selection.choice;
  return choice && choice.statement ? ` — ${choice.statement}` : "";
}

function card(c) {
  const ranking = shown();
  const disabled = !state.editable || !c.rankable;
  const media = c.video
    ? el("video", { src: c.video, muted: true, playsinline: true, preload: "auto", controls: true,
                    loop: $("loop").checked, "data-id": c.id, poster: c.poster })
    : c.strip
      ? el("img", { src: c.strip, alt: `frames of ${c.id}`, class: "strip-only" })
      : el("div", { class: "no-video", text: c.rankable ? "no video yet" : c.status.replace("_", " ") });
  if (media.tagName === "VIDEO") media.muted = true;  // the attribute alone does not mute before play in all browsers
  const filmed = (c.film && c.film.episodes) || [];  // empty for films made before episodes were chosen
  const shownEpisode = filmed.find((e) => e.role === "representative");
  const worstEpisode = filmed.find((e) => e.role === "worst");
  const episodeLabel = c.video && shownEpisode
    ? el("p", { class: "episode-label", text: `${episodeText(shownEpisode)} (closest to the median score)` }) : null;
  const worst = c.worst_video ? el("figure", { class: "worst-film", "data-id": c.id },
    el("figcaption", { text: worstEpisode ? episodeText(worstEpisode) : "worst episode",
                       title: c.film && c.film.spread ? `shown because ${c.film.spread}` : null }),
    el("video", { src: c.worst_video, muted: true, playsinline: true, preload: "auto", controls: true,
                  loop: $("loop").checked, "data-id": `${c.id} (worst episode)` })) : null;
  if (worst) worst.querySelector("video").muted = true;

  const m = c.metrics || {};
  const blind = state.run && state.run.blind;  // the server sends no score then; no empty rows for them either
  const metrics = el("table", { class: "metrics" },
    blind ? null : el("tr", {}, el("th", { text: "task score" }),
      el("td", { text: m.fitness_mean === null || m.fitness_mean === undefined ? "—"
        : `${fmt(m.fitness_mean)}${m.fitness_std ? ` ± ${fmt(m.fitness_std, 2)}` : ""}` })),
    blind ? null : el("tr", {}, el("th", { text: "success rate" }), el("td", { text: pct(m.success_rate) })),
    el("tr", {}, el("th", { text: "episode length" }), el("td", { text: fmt(m.episode_length_mean) })),
    el("tr", {}, el("th", { text: "return (own reward)" }), el("td", { text: fmt(m.return_mean) })),
    el("tr", {}, el("th", { text: "training" }),
      el("td", { text: c.train && c.train.steps ? `${c.train.steps.toLocaleString()} steps, ${fmt(c.train.wall_s, 2)} s` : "—" })));

  const termRows = Object.entries(c.terms || {}).map(([name, t]) => el("tr", {},
    el("td", { class: "mono", text: name }), el("td", { text: fmt(t.scale) }), el("td", { text: fmt(t.episode_sum) }),
    el("td", { text: `${fmt(t.per_step_mean)} ± ${fmt(t.per_step_std, 2)}` })));
  const terms = termRows.length ? el("details", { class: "terms", open: true },
    el("summary", { text: `reward terms (${termRows.length})` }),
    el("table", {}, el("tr", {}, el("th", { text: "term" }), el("th", { text: "scale" }),
      el("th", { text: "per episode" }), el("th", { text: "per step (raw)" })), termRows)) : null;

  const code = c.source ? el("details", { class: "code" }, el("summary", { text: "reward code" }),
    el("pre", {}, el("code", { text: c.source }))) : null;
  const strip = c.video && c.strip ? el("details", { class: "frames" }, el("summary", { text: "frames" }),
    el("img", { src: c.strip, alt: `frames of ${c.id}`, loading: "lazy" })) : null;

  const isBest = ranking && ranking.best === c.id;
  const isWorst = ranking && ranking.worst === c.id;
  const picks = el("div", { class: "picks" },
    el("label", { class: "pick best" }, el("input", { type: "radio", name: "best", value: c.id, disabled,
      checked: isBest, onchange: () => picked("best", c.id) }), " best"),
    el("label", { class: "pick worst" }, el("input", { type: "radio", name: "worst", value: c.id, disabled,
      checked: isWorst, onchange: () => picked("worst", c.id) }), " worst"));

  const comment = el("textarea", { class: "comment", rows: 2, "data-id": c.id, disabled: !state.editable,
    placeholder: `comment on ${c.id} (optional)`, "aria-label": `comment on ${c.id}` });
  comment.value = ranking && ranking.comments ? ranking.comments[c.id] || "" : "";

  return el("article", { class: `card ${c.rankable ? "" : "failed"} ${isBest ? "is-best" : ""} ${isWorst ? "is-worst" : ""}`,
                         "data-id": c.id },
    el("header", {}, el("h3", { text: c.id }), el("span", { class: `badge ${c.status}`, text: c.status_text || c.status })),
    media, episodeLabel, worst,
    c.reason ? el("p", { class: "reason", text: c.reason }) : null,
    judgeReason(c.id), picks, metrics, terms, strip, code, comment);
}

// which evaluation episode a video shows and how it ended (a blind page gets no score nor success)
function episodeText(e) {
  const parts = [`${e.role} episode ${e.episode + 1} of ${e.episodes}`];
  if (e.score !== undefined && e.score !== null) parts.push(`score ${fmt(e.score)}`);
  if (e.success === true || e.success === false) parts.push(e.success ? "success" : "not a success");
  parts.push(e.ended_early ? `ended early at step ${e.steps}` : `ran all ${e.steps} steps`);
  return parts.join(" · ");
}

// ---- best / worst / order ----------------------------------------------------------------------------------------

// One candidate is never both best and worst (the server refuses that): picking it for one end clears its pick
// for the other, and that end waits to be picked again rather than being picked for the person.
function picked(which, id) {
  const other = document.querySelector(`input[name="${which === "best" ? "worst" : "best"}"][value="${id}"]`);
  if (other) other.checked = false;
  const rest = state.order.filter((i) => i !== id);
  state.order = which === "best" ? [id, ...rest] : [...rest, id];
  renderOrder();
  highlight();
}

function highlight() {
  const best = document.querySelector('input[name="best"]:checked');
  const worst = document.querySelector('input[name="worst"]:checked');
  for (const node of document.querySelectorAll(".card")) {
    node.classList.toggle("is-best", Boolean(best && best.value === node.dataset.id));
    node.classList.toggle("is-worst", Boolean(worst && worst.value === node.dataset.id));
  }
}

function orderChanged() {  // the ends of a hand-made order are the best and the worst
  $("use-order").checked = true;
  const set = (name, id) => {
    const input = document.querySelector(`input[name="${name}"][value="${id}"]`);
    if (input) input.checked = true;
  };
  set("best", state.order[0]);
  set("worst", state.order[state.order.length - 1]);
  renderOrder();
  highlight();
}

function move(index, delta) {
  const target = index + delta;
  if (target < 0 || target >= state.order.length) return;
  [state.order[index], state.order[target]] = [state.order[target], state.order[index]];
  orderChanged();
}

function renderOrder() {
  const list = $("order");
  list.replaceChildren(...state.order.map((id, index) => el("li", { "data-id": id },
    el("span", { class: "handle", text: state.editable ? "⠿" : "", title: state.editable ? "drag to reorder" : null,
      onpointerdown: (e) => dragStart(e, list) }),
    el("span", { class: "mono", text: id }),
    el("span", { class: "spacer" }),
    el("button", { type: "button", class: "small", text: "↑", title: "move up", "aria-label": `move ${id} up`,
      disabled: !state.editable || index === 0, onclick: () => move(index, -1) }),
    el("button", { type: "button", class: "small", text: "↓", title: "move down", "aria-label": `move ${id} down`,
      disabled: !state.editable || index === state.order.length - 1, onclick: () => move(index, 1) }))));
}

// Drag to reorder with pointer events, which mouse, pen and touch all send (HTML5 drag and drop never starts from a
// touch). The handle has touch-action: none, so a finger on it moves the item instead of scrolling the page. The
// neighbours are moved around the dragged item, never the item itself: a node taken out of the page loses the
// pointer's capture, and with it the rest of the drag.
function dragStart(event, list) {
  if (!state.editable || event.button > 0) return;
  event.preventDefault();
  const item = event.currentTarget.closest("li");
  item.classList.add("dragging");
  const onMove = (e) => {
    const prev = item.previousElementSibling, next = item.nextElementSibling;
    if (prev && e.clientY < middle(prev)) item.after(prev);
    else if (next && e.clientY > middle(next)) item.before(next);
  };
  const onEnd = () => {
    window.removeEventListener("pointermove", onMove);
    window.removeEventListener("pointerup", onEnd);
    window.removeEventListener("pointercancel", onEnd);
    item.classList.remove("dragging");
    const order = [...list.children].map((li) => li.dataset.id);
    if (order.join() !== state.order.join()) {
      state.order = order;
      orderChanged();
    }
  };
  window.addEventListener("pointermove", onMove);
  window.addEventListener("pointerup", onEnd);
  window.addEventListener("pointercancel", onEnd);
}

function middle(node) {
  const box = node.getBoundingClientRect();
  return box.top + box.height / 2;
}

// ---- the review deadline -----------------------------------------------------------------------------------------

// The seconds left come from the server and count down on this clock, so a browser whose clock is off still shows
// the right time; the poll's fresh detail resets them.
function setDeadline(deadline) {
  state.deadline = deadline && state.editable
    ? { at: Date.now() + deadline.seconds_left * 1000, then: deadline.then } : null;
  tickDeadline();
}

function tickDeadline() {
  const box = $("deadline");
  box.hidden = !state.deadline;
  if (!state.deadline) return;
  const left = Math.round((state.deadline.at - Date.now()) / 1000);
  box.textContent = left > 0 ? `Review deadline in ${clock(left)}: ${state.deadline.then}.`
    : `The review deadline passed ${clock(-left)} ago: the run waits for the first ranking.`;
  box.classList.toggle("passed", left <= 0);
}

function clock(seconds) {  // 75 -> "1:15", 3725 -> "1:02:05"
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

// ---- submit ------------------------------------------------------------------------------------------------------

function collect() {
  const best = document.querySelector('input[name="best"]:checked');
  const worst = document.querySelector('input[name="worst"]:checked');
  const comments = {};
  for (const box of document.querySelectorAll("textarea.comment")) {
    if (box.value.trim()) comments[box.dataset.id] = box.value.trim();
  }
  return {
    generation: state.gen,
    best: best ? best.value : null,
    worst: worst ? worst.value : null,
    order: $("use-order").checked ? [...state.order] : null,
    comments,
    generation_comment: $("gen-comment").value.trim(),
    source: "human",
    reviewer: state.reviewer || null,
  };
}

async function submit() {
  showError("");
  showNotice("");
  const data = collect();
  if (!data.best || !data.worst) {
    showError("Pick a best and a worst candidate before submitting.");
    return;
  }
  if (needed() > 1 && !state.reviewer) {
    showError(`Enter your name at the top first: ${needed()} reviewers rank each generation of this run.`);
    $("reviewer").focus();
    return;
  }
  $("submit").disabled = true;
  try {
    const response = await fetch(`/api/generation/${state.gen}/ranking`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    await loadRun();
    await showGeneration(state.gen);
    const who = state.detail.reviewed_by || [];
    showNotice(state.detail.ranking
      ? `Ranking of generation ${state.gen} saved. The run continues with the next generation.`
      : `Your ranking of generation ${state.gen} is saved (${who.length} of ${needed()} reviewers). The run waits for the others; you can change yours until then.`);
  } catch (err) {
    showError(err.message);
    $("submit").disabled = !state.editable;
  }
}

// ---- playback ----------------------------------------------------------------------------------------------------

function videos() {
  return [...document.querySelectorAll("video")];
}

function applyPlayback() {
  for (const v of videos()) {
    v.loop = $("loop").checked;
    v.defaultPlaybackRate = state.rate;
    v.playbackRate = state.rate;
  }
}

async function playAll() {
  const all = videos();
  for (const v of all) { v.pause(); v.currentTime = 0; }
  applyPlayback();
  await Promise.all(all.map((v) => v.play().catch((err) => showError(`cannot play ${v.dataset.id}: ${err.message}`))));
}

function setRate(rate) {
  state.rate = rate;
  for (const b of document.querySelectorAll("button.rate")) b.classList.toggle("active", Number(b.dataset.rate) === rate);
  applyPlayback();
}

// ---- watching the run --------------------------------------------------------------------------------------------

function summaryOf(run, gen, withReviews = false) {
  const g = run && run.generations.find((x) => x.generation === gen);
  if (!g) return "null";
  const { reviews, ...rest } = g;
  return JSON.stringify(withReviews ? g : rest);
}

async function poll() {
  try {
    const before = summaryOf(state.run, state.gen);
    const beforeReviews = summaryOf(state.run, state.gen, true);
    const run = await loadRun();
    const banner = $("banner");
    if (run.awaiting !== null && run.awaiting !== state.gen) {
      banner.replaceChildren(`Generation ${run.awaiting} is waiting for your ranking. `,
        el("button", { type: "button", text: `Go to generation ${run.awaiting}`, onclick: () => showView("generation").then(() => showGeneration(run.awaiting)) }));
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
    if (state.view === "overview") await loadOverview();
    if (state.gen === null && run.generations.length) {
      await showGeneration(run.awaiting ?? run.generations[run.generations.length - 1].generation);
    } else if (state.gen !== null && summaryOf(run, state.gen) !== before) {
      // new candidates, a ranking made elsewhere (`rewardsmith rank`), or the generation now awaits one; an
      // unchanged generation is never re-rendered, so nothing typed into the page is lost
      await showGeneration(state.gen);
    } else if (state.gen !== null && summaryOf(run, state.gen, true) !== beforeReviews) {
      // another reviewer ranked: only the status line changes (what this reviewer is typing stays)
      state.detail = await getJSON(detailURL(state.gen));
      renderStatus();
    }
  } catch (err) {
    // the run may have finished and its server stopped; keep the page as it is
  }
}

async function main() {
  $("play-all").addEventListener("click", playAll);
  $("pause-all").addEventListener("click", () => videos().forEach((v) => v.pause()));
  $("loop").addEventListener("change", applyPlayback);
  for (const b of document.querySelectorAll("button.rate")) b.addEventListener("click", () => setRate(Number(b.dataset.rate)));
  $("submit").addEventListener("click", submit);
  $("gen-picker").addEventListener("change", (e) => showGeneration(Number(e.target.value)).catch((err) => showError(err.message)));
  $("tab-generation").addEventListener("click", () => showView("generation"));
  $("tab-overview").addEventListener("click", () => showView("overview"));
  state.reviewer = (localStorage.getItem(NAME_KEY) || "").trim();
  $("reviewer").value = state.reviewer;
  $("reviewer").addEventListener("change", (e) => changeReviewer(e.target.value).catch((err) => showError(err.message)));
  try {
    const run = await loadRun();
    const gens = run.generations.map((g) => g.generation);
    if (!gens.length) {
      $("gen-status").textContent = "This run has no generation yet; the page updates when one is ready.";
    } else {
      await showGeneration(run.awaiting ?? gens[gens.length - 1]);
    }
    if (location.hash === "#overview") await showView("overview");
  } catch (err) {
    showError(err.message);
  }
  setInterval(poll, 4000);
  setInterval(tickDeadline, 1000);
  document.body.dataset.ready = "1";
}

main();
