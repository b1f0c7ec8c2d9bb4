// rewardsmith review page, the run overview tab: every generation and candidate (status, task score, failure
// reason, LLM cost) and the fitness chart, drawn here as inline SVG from /api/overview. Loaded before app.js, whose
// helpers (state, el, fmt, pct, getJSON, showGeneration, showError) it calls only once the page runs. In blind
// review the server sends no score at all; this file then shows neither score columns nor the chart.
"use strict";

// ---- run overview: every generation and candidate, LLM cost, the fitness chart ---------------------------------------

function money(value) {
  return value === null || value === undefined ? "—" : `$${value.toFixed(4)}`;
}

function showView(view) {
  state.view = view;
  const overview = view === "overview";
  $("view-overview").hidden = !overview;
  $("view-generation").hidden = overview;
  $("picker-box").hidden = overview;
  $("tab-overview").classList.toggle("active", overview);
  $("tab-generation").classList.toggle("active", !overview);
  $("tab-overview").setAttribute("aria-selected", String(overview));
  $("tab-generation").setAttribute("aria-selected", String(!overview));
  if (location.hash !== (overview ? "#overview" : "")) history.replaceState(null, "", overview ? "#overview" : location.pathname);
  if (overview) return loadOverview().catch((err) => showError(err.message));
  return Promise.resolve();
}

async function loadOverview() {
  state.overview = await getJSON("/api/overview");
  renderOverview(state.overview);
  document.body.dataset.overview = String(Date.now());  // tests wait for a fresh render
}

const NUMERIC = new Set(["task score", "success", "train s"]);

function renderOverview(ov) {
  const cands = ov.candidates;
  const evaluated = cands.filter((c) => c.status_code === "evaluated").length;
  const failedCount = cands.filter((c) => c.status_code.endsWith("_failed")).length;
  const llmFree = state.run && state.run.config && !(state.run.config.models || []).length;
  const stateText = { finished: "finished", running: "in progress", stopped: "stopped (resume it to go on)" }[ov.state] || ov.state;
  $("ov-summary").replaceChildren(
    el("span", { class: `badge run-${ov.state}`, text: stateText }),
    el("span", { text: `${ov.generations.length} generation${ov.generations.length === 1 ? "" : "s"}` }),
    el("span", { text: `${cands.length} candidates: ${evaluated} evaluated, ${failedCount} failed` }),
    el("span", { id: "ov-total-cost", text: `LLM cost ${money(ov.total_cost_usd)}${llmFree ? " (LLM-free run)" : ""}` }));
  $("ov-blind").hidden = !ov.blind;
  $("ov-chart-box").hidden = ov.blind || !ov.chart;
  if (ov.chart && !ov.blind) $("ov-chart").replaceChildren(fitnessChart(ov.chart));
  else $("ov-chart").replaceChildren();

  const scores = !ov.blind;
  const head = ["candidate", "status", ...(scores ? ["task score", "success"] : []), "source", "train s", "ran on", "failure reason"];
  const rows = [];
  for (const g of ov.generations) {
    const best = g.best ? `selected ${g.best}${scores && g.best_fitness !== null && g.best_fitness !== undefined ? ` (${fmt(g.best_fitness)})` : ""}` : "nothing selected yet";
    rows.push(el("tr", { class: "gen-row", "data-gen": String(g.gen) }, el("th", { colspan: String(head.length) },
      el("span", { class: "gen-name", text: `Generation ${g.gen}` }),
      el("span", { class: `badge gen-${g.state.replace(/ /g, "-")}`, text: g.state }),
      el("span", { text: `${g.candidates} candidate${g.candidates === 1 ? "" : "s"} (${g.evaluated} evaluated, ${g.failed} failed)` }),
      el("span", { text: best }),
      el("span", { class: "gen-cost", text: `LLM cost ${money(g.cost_usd)}` }))));
    const mine = cands.filter((c) => c.gen === g.gen);
    if (!mine.length) {
      rows.push(el("tr", { class: "empty" }, el("td", { colspan: String(head.length), class: "muted", text: "no candidate yet (sampling)" })));
    }
    for (const c of mine) {
      rows.push(el("tr", { class: `cand-row ${c.status_code}`, "data-id": c.id },
        el("td", {}, el("button", { type: "button", class: "link mono", text: c.id, title: `show generation ${g.gen}`,
          onclick: () => openCandidate(g.gen, c.id) })),
        el("td", {}, el("span", { class: `badge ${c.status_code}`, text: c.status })),
        scores ? el("td", { class: "num score", text: fmt(c.fitness) }) : null,
        scores ? el("td", { class: "num", text: pct(c.success) }) : null,
        el("td", { text: c.source }),
        el("td", { class: "num", text: fmt(c.train_s, 3) }),
        el("td", { class: "ran-on", text: c.ran_on || "" }),
        el("td", { class: "reason", text: c.reason || "" })));
    }
  }
  $("ov-table").replaceChildren(
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { text: h, class: NUMERIC.has(h) ? "num" : null })))),
    el("tbody", {}, rows),
    el("tfoot", {}, el("tr", {}, el("th", { colspan: String(head.length), text: `Total LLM cost ${money(ov.total_cost_usd)}` }))));
}

async function openCandidate(gen, id) {
  await showView("generation");
  await showGeneration(gen);
  const node = document.querySelector(`.card[data-id="${id}"]`);
  if (node) node.scrollIntoView({ block: "center" });
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children.flat(Infinity)) if (child) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function niceTicks(lo, hi, count = 5) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

// The y-axis never spans less than MIN_SPAN times the largest score's size: scores of 0.0832 to 0.0844 (the same,
// give or take evaluation noise) then sit within a few pixels instead of filling the chart as if far apart, while
// a real difference (0.2 against 0.8) still spans it. Relative, not anchored at 0: scores of 1000 to 1010 would be
// a flat line on an axis from 0. The widening is centred on the scores and is at most a quarter of the largest,
// so all-positive scores never get an axis below 0 (nor all-negative ones above). All scores 0: about -0.5 to 0.5.
const MIN_SPAN = 0.25;

function yRange(values) {
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = Math.max(hi - lo, MIN_SPAN * Math.max(Math.abs(lo), Math.abs(hi))) || 1;
  const grow = (span - (hi - lo)) / 2 + span * 0.08;  // and a margin, so no point sits on the frame's edge
  return [lo - grow, hi + grow];
}

function fitnessChart(chart) {
  const W = 720, H = 300, L = 64, R = 16, T = 14, B = 42;
  const gens = state.overview.generations.map((g) => g.gen);
  if (!chart.points.length) {
    return el("p", { class: "muted", text: "No task score yet: the chart appears once a candidate is evaluated." });
  }
  const [lo, hi] = yRange([...chart.points.map((p) => p.fitness), ...chart.best.map((b) => b.fitness)]);
  const g0 = Math.min(...gens), g1 = Math.max(...gens);
  const x = (g) => L + (W - L - R) * (g1 === g0 ? 0.5 : (g - g0 + 0.5) / (g1 - g0 + 1));
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const gridY = niceTicks(lo, hi).map((v) => [
    svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }),
    svg("text", { class: "tick", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v))]);
  const every = Math.ceil(gens.length / 20);
  const gridX = gens.filter((g, i) => i % every === 0).map((g) => svg("text", { class: "tick", x: x(g), y: H - B + 16, "text-anchor": "middle" }, String(g)));
  const slot = (W - L - R) / Math.max(1, g1 - g0 + 1);
  const points = chart.points.map((p) => {
    const same = chart.points.filter((q) => q.gen === p.gen);
    const spread = Math.min(slot * 0.5, 8 * same.length);
    const dx = same.length > 1 ? (same.indexOf(p) / (same.length - 1) - 0.5) * spread : 0;
    return svg("circle", { class: "point", cx: x(p.gen) + dx, cy: y(p.fitness), r: 4.5, "data-id": p.id },
      svg("title", {}, `${p.id}: ${fmt(p.fitness)}`));
  });
  const best = chart.best;
  const line = svg("polyline", { class: "best-line", points: best.map((b) => `${x(b.gen)},${y(b.fitness)}`).join(" ") });
  const bestPoints = best.map((b) => svg("circle", { class: "best-point", cx: x(b.gen), cy: y(b.fitness), r: 7, "data-gen": b.gen },
    svg("title", {}, `generation ${b.gen}: selected best so far ${fmt(b.fitness)}`)));
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "task score per generation" },
    gridY, gridX,
    svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
    svg("text", { class: "label", x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, "generation"),
    svg("text", { class: "label", x: 14, y: (T + H - B) / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${(T + H - B) / 2})` }, "task score"),
    points, line, bestPoints);
}
