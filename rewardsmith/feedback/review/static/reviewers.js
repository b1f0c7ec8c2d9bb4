// rewardsmith review page: several reviewers and the judge's ranking (issue 16). Loaded before app.js, whose globals (state, el, $) these
// functions use when called. Everything from the run is inserted as text, never as HTML.
"use strict";

function agreementText(agg) {
  const a = agg.agreement || {};
  const parts = [`${agg.decided} (${agg.reviewers.join(", ")})`];
  if (a.kendall_tau_mean !== null && a.kendall_tau_mean !== undefined) parts.push(`mean Kendall tau ${a.kendall_tau_mean.toFixed(2)}`);
  if (a.same_best !== null && a.same_best !== undefined) parts.push(a.same_best ? "same best" : "different bests");
  return parts.join("; ");
}

function renderReviews() {  // each reviewer's ranking, once the generation is decided (never before: no anchoring)
  const reviews = state.detail.reviews || [];
  const box = $("reviews");
  box.hidden = reviews.length < 2;
  if (box.hidden) return;
  box.replaceChildren(el("h2", { text: "Each reviewer's ranking" }), el("table", {},
    el("tr", {}, el("th", { text: "reviewer" }), el("th", { text: "best" }), el("th", { text: "worst" }),
      el("th", { text: "order (best → worst)" }), el("th", { text: "submitted" })),
    reviews.map((r) => el("tr", { "data-reviewer": r.reviewer }, el("td", { text: r.reviewer }),
      el("td", { class: "mono", text: r.best }), el("td", { class: "mono", text: r.worst }),
      el("td", { class: "mono", text: r.order ? r.order.join(" › ") : "best and worst only" }),
      el("td", { text: r.submitted_at })))));
}

// A new name: remembered in this browser; that reviewer's own ranking (if any) replaces what the page shows, else
// only the status line changes, so picks made before typing the name are kept.
async function changeReviewer(value) {
  state.reviewer = value.trim().replace(/\s+/g, " ");
  if (state.reviewer) localStorage.setItem(NAME_KEY, state.reviewer); else localStorage.removeItem(NAME_KEY);
  if (state.gen !== null) {
    showError("");
    state.detail = await getJSON(detailURL(state.gen));
    if (state.detail.my_ranking) render(); else renderStatus();
  }
  document.body.dataset.reviewer = state.reviewer;
}

// The judge's ranking (a judge run's verdict, or a hybrid run's proposal with whether it is confident). While the
// generation waits, "Use the judge's order" copies it into the picks and the full order, to confirm or change.
// Where the judge's replies were unusable the order is (partly) the fallback, task score or candidate order: it is
// called that, never the judge's ranking.
function renderJudge() {
  const judge = state.detail.judge;
  const box = $("judge-box");
  box.hidden = !judge;
  if (!judge) return;
  const fallback = Boolean(judge.fallback);
  const sure = judge.confident === null || judge.confident === undefined ? null
    : el("p", { class: judge.confident ? "judge-sure" : "judge-unsure", "data-confident": String(judge.confident),
      text: judge.confident ? `Confident: ${judge.why}. If nobody ranks by the deadline, this order stands.`
        : `Unsure: ${judge.why}. The run waits for a person's ranking.` });
  const use = state.editable ? el("button", { type: "button", id: "use-judge",
    text: fallback ? "Use the fallback order" : "Use the judge's order", onclick: useJudgeOrder }) : null;
  // el() leaves out the parts that are null; replaceChildren would write them as the text "null"
  box.replaceChildren(el("div", {},
    el("h2", { text: fallback ? "Fallback order (not the judge's own ranking)" : "The judge's ranking" }),
    fallback ? el("p", { class: "judge-fallback", text: `Fallback: ${judge.fallback}.` }) : null,
    el("p", { class: "mono", id: "judge-order", text: judge.order.join(" › ") }), sure,
    judge.summary ? el("p", { class: "judge-summary", text: judge.summary }) : null,
    Object.keys(judge.reasons || {}).length ? el("table", {},  // no table of dashes when it gave no reason at all
      el("tr", {}, el("th", { text: "candidate" }), el("th", { text: "the judge's reason" })),
      judge.order.map((id) => el("tr", { "data-id": id }, el("td", { class: "mono", text: id }),
        el("td", { text: judge.reasons[id] || "—" })))) : null, use));
}

function judgeReason(id) {
  const judge = state.detail.judge;
  const reason = judge && judge.reasons ? judge.reasons[id] : null;
  if (!reason) return null;
  const place = judge.order.indexOf(id) + 1;
  return el("p", { class: "judge-reason", text: `judge (#${place}): ${reason}` });
}

function useJudgeOrder() {
  const ids = rankable();
  state.order = [...state.detail.judge.order.filter((i) => ids.includes(i)),
    ...ids.filter((i) => !state.detail.judge.order.includes(i))];
  orderChanged();
}
