/* The dashboard at `/`: figures, ML readiness, experiments, costs, alerts and a conversation reader.
 *
 * Refreshes every REFRESH_MS after the previous refresh finished (setTimeout, not setInterval, so a
 * slow server never gets overlapping requests). Sections keep their last good data when a request
 * fails; the failure is named next to "updated HH:MM:SS".
 */
(function () {
  "use strict";

  const T = window.Teppan;
  const { el, fill, setFigure, DASH } = T;
  const REFRESH_MS = 5000;

  let range = "day";

  // ---- overview ------------------------------------------------------------------------------------

  // One card per figure of /api/overview. `parts` are sub-keys of an object figure (latencies);
  // `series` names the trend in `series` drawn as the card's sparkline.
  const FIGURES = [
    { key: "conversations", title: "Conversations", fmt: (v) => T.fmtNumber(v), series: "conversations" },
    { key: "messages", title: "Messages", fmt: (v) => T.fmtNumber(v) },
    { key: "conversion_rate", title: "Conversion", fmt: (v) => T.fmtPercent(v), series: "conversion_rate" },
    { key: "upsell_acceptance_rate", title: "Upsell acceptance", fmt: (v) => T.fmtPercent(v), series: "upsell_acceptance_rate" },
    { key: "csat", title: "CSAT", hint: "share of ratings 4–5", fmt: (v) => T.fmtPercent(v), series: "csat" },
    { key: "avg_turns", title: "Avg turns", fmt: (v) => T.fmtDecimal(v, 1), series: "avg_turns" },
    { key: "task_completion_rate", title: "Task completion", fmt: (v) => T.fmtPercent(v), series: "task_completion_rate" },
    { key: "fast_latency_ms", title: "Fast-path latency", parts: ["p50", "p95"], fmt: (v) => T.fmtMs(v), series: "fast_latency_p95_ms", seriesNote: "p95 trend" },
    { key: "ml_latency_ms", title: "ML latency", parts: ["p50", "p95"], fmt: (v) => T.fmtMs(v), series: "ml_latency_p95_ms", seriesNote: "p95 trend" },
    { key: "escalation_rate", title: "Escalation rate", fmt: (v) => T.fmtPercent(v), series: "escalation_rate" },
    { key: "dead_letters", title: "Dead letters", hint: "records in *.dlq.v1", fmt: (v) => T.fmtNumber(v) },
    { key: "llm_cost_usd", title: "LLM cost", fmt: (v) => T.fmtMoney(v), series: "llm_cost_usd", budget: true },
  ];

  const cards = new Map(); // figure key -> {values: {part: node}, spark, budget, note}

  function buildCard(figure) {
    const values = {};
    const valueRow = el("div", { class: "figure-values" });
    if (figure.parts) {
      for (const part of figure.parts) {
        values[part] = el("span", { class: "figure-value", "data-figure": figure.key + "." + part, "data-value": "" }, DASH);
        valueRow.append(el("span", { class: "figure-part" }, el("span", { class: "part-label" }, part), values[part]));
      }
    } else {
      values[""] = el("span", { class: "figure-value", "data-figure": figure.key, "data-value": "" }, DASH);
      valueRow.append(values[""]);
    }
    const note = el("p", { class: "figure-note muted small" });
    const budget = figure.budget ? el("div", { class: "budget" }) : null;
    const spark = figure.series ? el("div", { class: "spark", "aria-hidden": "true" }) : null;
    const card = el("article", { class: "card figure-card", "data-card": figure.key },
      el("h3", { class: "card-title" }, figure.title,
        figure.hint ? el("span", { class: "muted small" }, " (" + figure.hint + ")") : null),
      valueRow, note, budget,
      spark, figure.seriesNote && spark ? el("p", { class: "muted small spark-note" }, figure.seriesNote) : null);
    const entry = { card, values, note, budget, spark };
    cards.set(figure.key, entry);
    return card;
  }

  function budgetRow(label, figurePrefix, used, limit) {
    const hasLimit = T.isNum(limit) && limit > 0;
    return el("div", { class: "budget-row" },
      el("div", { class: "budget-head" },
        el("span", { class: "muted" }, label),
        el("span", {},
          setFigure(el("span", { "data-figure": "budget." + figurePrefix + "_used" }), used, T.fmtMoney(used)),
          " / ",
          setFigure(el("span", { "data-figure": "budget." + figurePrefix + "_usd" }), limit,
            hasLimit ? T.fmtMoney(limit) : "no budget"))),
      hasLimit ? T.progressBar(used / limit) : null);
  }

  async function loadOverview() {
    const doc = await T.api("/api/overview" + T.query({ range }));
    const figures = doc.figures || {};
    const series = doc.series || {};
    const container = document.getElementById("overview-cards");
    if (cards.size === 0) fill(container, FIGURES.map(buildCard));
    document.getElementById("overview-span").textContent =
      doc.since && doc.until ? T.fmtTime(doc.since) + " → " + T.fmtTime(doc.until) + (doc.bucket ? " · per " + doc.bucket : "") : "";
    const x = (series.bucket_starts || []).map(T.toEpochSeconds);

    for (const figure of FIGURES) {
      const entry = cards.get(figure.key);
      const raw = figures[figure.key];
      if (figure.parts) {
        for (const part of figure.parts) {
          const v = raw && typeof raw === "object" ? raw[part] : null;
          setFigure(entry.values[part], T.isNum(v) ? v : null, figure.fmt(v));
        }
      } else {
        setFigure(entry.values[""], T.isNum(raw) ? raw : null, figure.fmt(raw));
      }
      if (figure.key === "dead_letters") {
        entry.note.textContent = raw === null || raw === undefined ? "broker not answering" : "";
        entry.card.classList.toggle("card-alert", T.isNum(raw) && raw > 0);
      }
      if (figure.budget) {
        const b = figures.budget || {};
        fill(entry.budget,
          budgetRow("today", "daily", b.daily_used, b.daily_usd),
          budgetRow("this month", "monthly", b.monthly_used, b.monthly_usd));
      }
      if (entry.spark) {
        T.drawChart(entry.spark, {
          x, spark: true, height: 44,
          series: [{ label: figure.title, values: series[figure.series] || [] }],
        });
      }
    }
  }

  // ---- readiness ---------------------------------------------------------------------------------

  async function loadReadiness() {
    const doc = await T.api("/api/readiness");
    const counts = doc.counts || {};
    const thresholds = doc.thresholds || {};
    const met = doc.met || {};
    const names = Object.keys(thresholds).length ? Object.keys(thresholds) : Object.keys(counts);

    const days = doc.estimated_days_to_ready;
    fill(document.getElementById("readiness-summary"),
      el("span", { class: "summary-item" }, "ML ready: ",
        setFigure(el("strong", { "data-figure": "readiness.ml_ready", class: doc.ml_ready ? "ok-text" : "" }),
          doc.ml_ready === true ? "true" : doc.ml_ready === false ? "false" : null,
          doc.ml_ready ? "yes" : "no")),
      el("span", { class: "summary-item" }, "estimated days to ready: ",
        setFigure(el("strong", { "data-figure": "readiness.estimated_days_to_ready" }), T.isNum(days) ? days : null,
          T.isNum(days) ? T.fmtNumber(days) : "unknown (no growth yet)")));

    fill(document.getElementById("readiness-counts"), names.map((name) => {
      const count = counts[name];
      const limit = thresholds[name];
      return el("div", { class: "readiness-row" },
        el("div", { class: "readiness-head" },
          el("span", { class: "readiness-name" }, name.replace(/_/g, " ")),
          el("span", { class: "readiness-count" }, T.fmtNumber(count), " / ", T.fmtNumber(limit)),
          met[name] ? T.badge("met", "ok") : null),
        T.progressBar(T.isNum(count) && T.isNum(limit) && limit > 0 ? count / limit : null, {
          "data-figure": "readiness." + name,
          "data-value": T.isNum(count) ? count : "",
          "data-threshold": T.isNum(limit) ? limit : "",
          role: "progressbar",
          "aria-label": name,
          "aria-valuemin": 0,
          "aria-valuemax": T.isNum(limit) ? limit : null,
          "aria-valuenow": T.isNum(count) ? count : null,
        }));
    }));

    const acc = doc.rules_accuracy || {};
    let accuracyText;
    if (acc.plateaued_below_target === null || acc.plateaued_below_target === undefined) {
      const weeks = (acc.weeks || []).filter((w) => w.labelled >= (acc.min_labels_per_week || 0)).length;
      accuracyText = "Fast-path accuracy plateau: not known yet (" + weeks + " of " +
        (acc.weeks_needed === undefined ? DASH : acc.weeks_needed) + " weeks with enough human labels).";
    } else {
      accuracyText = "Fast-path accuracy " + T.fmtPercent(acc.recent_accuracy) + " over the last " +
        acc.weeks_needed + " labelled weeks, " + T.fmtDecimal(100 * acc.gain_per_week, 2) + " points a week: " +
        (acc.plateaued_below_target ? "plateaued below " : "not plateaued below ") + T.fmtPercent(acc.target, 0) + ".";
    }
    document.getElementById("readiness-accuracy").textContent = accuracyText;

    // Counts span 200 to 10,000, so the chart shows each as a share of its threshold; the legend
    // shows the raw count.
    const history = Array.isArray(doc.history) ? doc.history : [];
    const x = history.map((h) => T.toEpochSeconds(h.at));
    T.drawChart(document.getElementById("readiness-chart"), {
      x, height: 220,
      emptyText: "drawn once a weekly report is stored (teppan report weekly --store) beside today's counts",
      yFormat: (v) => T.fmtNumber(v) + "%",
      series: names.map((name) => ({
        label: name.replace(/_/g, " "),
        values: history.map((h) => {
          const c = h.counts ? h.counts[name] : null;
          return T.isNum(c) && thresholds[name] ? (100 * c) / thresholds[name] : null;
        }),
        format: (v, i) => T.fmtNumber(history[i] && history[i].counts ? history[i].counts[name] : null),
      })),
    });
  }

  // ---- experiments -----------------------------------------------------------------------------------

  /** [low, high] from a list or an object, or null. */
  function interval(ci) {
    if (Array.isArray(ci) && ci.length === 2 && T.isNum(ci[0]) && T.isNum(ci[1])) return [ci[0], ci[1]];
    if (ci && typeof ci === "object") {
      const low = ci.low ?? ci.lower ?? ci.lo;
      const high = ci.high ?? ci.upper ?? ci.hi;
      if (T.isNum(low) && T.isNum(high)) return [low, high];
    }
    return null;
  }

  /** A round upper bound for the CI bars' shared scale, so small rates are not squashed at the left. */
  function niceMax(value) {
    const steps = [0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.6, 0.8, 1];
    for (const step of steps) if (value <= step) return step;
    return 1;
  }

  function ciBar(ci, rate, scale) {
    const track = el("div", { class: "ci-track", role: "img", "aria-label": ci ? "95% interval " + T.fmtPercent(ci[0]) + " to " + T.fmtPercent(ci[1]) : "no interval" });
    if (ci) {
      const range = el("span", { class: "ci-range" });
      range.style.left = (ci[0] / scale) * 100 + "%";
      range.style.width = Math.max(((ci[1] - ci[0]) / scale) * 100, 0.5) + "%";
      track.append(range);
    }
    if (T.isNum(rate)) {
      const point = el("span", { class: "ci-point" });
      point.style.left = Math.min(rate / scale, 1) * 100 + "%";
      track.append(point);
    }
    return el("div", { class: "ci-cell" }, track,
      el("span", { class: "ci-text muted small" }, ci ? T.fmtPercent(ci[0]) + " – " + T.fmtPercent(ci[1]) : DASH));
  }

  function experimentCard(exp) {
    const variants = exp.variants || {};
    const comparisons = exp.comparisons || {};
    const names = Object.keys(variants);
    // Control first, then the others in the report's order.
    names.sort((a, b) => (a === exp.control ? -1 : b === exp.control ? 1 : 0));
    const highs = names.map((n) => (interval(variants[n].ci95) || [0, variants[n].conversion_rate || 0])[1]);
    const scale = niceMax(Math.max(0.0001, ...highs));

    const srm = exp.srm || {};
    const srmNode = srm.flagged
      ? el("p", { class: "srm srm-flag", "data-srm": "flagged", role: "alert" },
        "Sample-ratio mismatch detected (p = " + T.fmtP(srm.p_value) + "): the split is off, do not trust these results.")
      : el("p", { class: "srm srm-ok", "data-srm": "ok" },
        "SRM check: " + (T.isNum(srm.p_value) ? "p = " + T.fmtP(srm.p_value) + ", no mismatch" : "no traffic yet"));

    const rows = names.map((name) => {
      const v = variants[name];
      const c = name === exp.control ? null : comparisons[name] || {};
      const lift = c ? interval(c.ci95) : null;
      return el("tr", { "data-variant": name },
        el("th", { scope: "row" }, name, name === exp.control ? el("span", { class: "muted small" }, " (control)") : null),
        el("td", { class: "num" }, T.fmtNumber(v.n)),
        el("td", { class: "num" }, T.fmtNumber(v.conversions)),
        el("td", { class: "num" }, T.fmtPercent(v.conversion_rate)),
        el("td", { class: "ci-col" }, ciBar(interval(v.ci95), v.conversion_rate, scale)),
        el("td", { class: "num" }, c ? T.fmtPercent(c.lift_abs) + (lift ? " [" + T.fmtPercent(lift[0]) + ", " + T.fmtPercent(lift[1]) + "]" : "") : DASH),
        el("td", { class: "num" }, c ? T.fmtPercent(c.chance_to_beat_control) : DASH),
        el("td", { class: "num" }, c ? T.fmtP(c.p_value) : DASH));
    });

    return el("article", { class: "card experiment", "data-experiment": exp.experiment || "" },
      el("h3", {}, exp.experiment || "experiment"),
      el("p", { class: "muted small" },
        "control: " + (exp.control || DASH) + " · unit: " + (exp.unit || DASH) +
        (T.isNum(exp.attribution_window_days) ? " · attribution window: " + exp.attribution_window_days + " days" : "")),
      srmNode,
      el("div", { class: "table-wrap" },
        el("table", { class: "data-table" },
          el("thead", {}, el("tr", {},
            el("th", { scope: "col" }, "variant"),
            el("th", { scope: "col", class: "num" }, "n"),
            el("th", { scope: "col", class: "num" }, "conversions"),
            el("th", { scope: "col", class: "num" }, "rate"),
            el("th", { scope: "col" }, "95% CI (scale 0–" + T.fmtPercent(scale, 0) + ")"),
            el("th", { scope: "col", class: "num" }, "lift vs control [95% CI]"),
            el("th", { scope: "col", class: "num" }, "chance to beat control"),
            el("th", { scope: "col", class: "num" }, "p-value"))),
          el("tbody", {}, rows))));
  }

  async function loadExperiments() {
    const doc = await T.api("/api/experiments");
    const list = (doc && doc.experiments) || [];
    fill(document.getElementById("experiments-body"),
      list.length ? el("div", { class: "stack" }, list.map(experimentCard))
        : el("p", { class: "muted" }, "No experiments configured."));
  }

  // ---- costs ---------------------------------------------------------------------------------------

  function stat(label, figure, raw, text) {
    return el("div", { class: "stat" },
      el("span", { class: "stat-label muted" }, label),
      setFigure(el("span", { class: "stat-value", "data-figure": figure }), T.isNum(raw) ? raw : null, text));
  }

  async function loadCosts() {
    const doc = await T.api("/api/costs" + T.query({ range }));
    document.getElementById("costs-span").textContent = "(last " + range + ")";
    const budget = doc.budget || {};
    const unknown = doc.unknown_models || [];
    fill(document.getElementById("costs-summary"),
      stat("total", "costs.total_usd", doc.total_usd, T.fmtMoney(doc.total_usd)),
      stat("per conversation", "costs.per_conversation_avg_usd", doc.per_conversation_avg_usd, T.fmtMoney(doc.per_conversation_avg_usd)),
      stat("per booking", "costs.per_booking_usd", doc.per_booking_usd, T.fmtMoney(doc.per_booking_usd)),
      stat("today / budget", "costs.budget.daily_used", budget.daily_used,
        T.fmtMoney(budget.daily_used) + " / " + (T.isNum(budget.daily_usd) ? T.fmtMoney(budget.daily_usd) : "no budget")),
      stat("this month / budget", "costs.budget.monthly_used", budget.monthly_used,
        T.fmtMoney(budget.monthly_used) + " / " + (T.isNum(budget.monthly_usd) ? T.fmtMoney(budget.monthly_usd) : "no budget")),
      unknown.length ? el("p", { class: "warn-text small" }, "Unpriced models (left out of every total): " + unknown.join(", ")) : null);

    const byModel = Object.entries(doc.by_model || {});
    const total = T.isNum(doc.total_usd) ? doc.total_usd : 0;
    fill(document.getElementById("costs-models"),
      byModel.length
        ? el("table", { class: "data-table" },
          el("thead", {}, el("tr", {},
            el("th", { scope: "col" }, "model"),
            el("th", { scope: "col", class: "num" }, "USD"),
            el("th", { scope: "col", class: "num" }, "share"))),
          el("tbody", {}, byModel.map(([model, usd]) => el("tr", { "data-model": model },
            el("td", { class: "mono" }, model),
            el("td", { class: "num" }, T.fmtMoney(usd)),
            el("td", { class: "num" }, total > 0 && T.isNum(usd) ? T.fmtPercent(usd / total) : DASH)))))
        : el("p", { class: "muted" }, "No LLM spend in this range."));

    const byDay = Object.entries(doc.by_day || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    T.drawChart(document.getElementById("costs-chart"), {
      x: byDay.map(([day]) => T.toEpochSeconds(day + "T00:00:00Z")),
      bars: true, height: 200, xPad: 43200,
      yFormat: (v) => T.fmtMoney(v),
      series: [{ label: "USD", values: byDay.map(([, usd]) => usd) }],
    });
  }

  // ---- alerts --------------------------------------------------------------------------------------

  async function loadAlerts() {
    const doc = await T.api("/api/alerts" + T.query({ limit: 50 }));
    const alerts = (doc && doc.alerts) || [];
    fill(document.getElementById("alerts-body"),
      alerts.length
        ? el("table", { class: "data-table", id: "alerts-table" },
          el("thead", {}, el("tr", {},
            el("th", { scope: "col" }, "time"),
            el("th", { scope: "col" }, "rule"),
            el("th", { scope: "col" }, "level"),
            el("th", { scope: "col" }, "message"))),
          el("tbody", {}, alerts.map((a) => el("tr", { "data-event-id": a.event_id || "" },
            el("td", { class: "nowrap" }, T.fmtTime(a.fired_at)),
            el("td", {}, a.rule || DASH),
            el("td", {}, T.badge(a.level || DASH, "level-" + String(a.level || "").toLowerCase().replace(/[^a-z]/g, ""))),
            el("td", { class: "message" }, a.message === null || a.message === undefined ? "" : String(a.message))))))
        : el("p", { class: "muted" }, "No alerts."));
  }

  // ---- conversations -------------------------------------------------------------------------------

  let selectedConversation = null;
  let searchSeq = 0; // only the latest search may fill the list

  async function searchConversations() {
    const text = document.getElementById("conversation-search").value.trim();
    const seq = ++searchSeq;
    let found;
    if (!text) {
      found = (await T.api("/api/conversations" + T.query({ limit: 20 }))).conversations || [];
    } else if (/^\d+$/.test(text)) {
      // Digits may be a customer id or a word in a message: ask both ways and merge.
      const [byText, byCustomer] = await Promise.all([
        T.api("/api/conversations" + T.query({ q: text, limit: 20 })),
        T.api("/api/conversations" + T.query({ customer_id: text, limit: 20 })).catch(() => ({ conversations: [] })),
      ]);
      const seen = new Set();
      found = [];
      for (const c of [...(byCustomer.conversations || []), ...(byText.conversations || [])]) {
        if (!seen.has(c.conversation_id)) {
          seen.add(c.conversation_id);
          found.push(c);
        }
      }
    } else {
      found = (await T.api("/api/conversations" + T.query({ q: text, limit: 20 }))).conversations || [];
    }
    if (seq !== searchSeq) return;
    document.getElementById("conversation-status").textContent =
      (text ? found.length + " found" : "most recent") + (found.length ? "" : text ? "" : ": none yet");
    fill(document.getElementById("conversation-results"), found.map((c) => el("li", {},
      el("button", {
        type: "button", class: "result", "data-conversation-id": c.conversation_id,
        "aria-current": c.conversation_id === selectedConversation ? "true" : null,
      },
      el("span", { class: "mono" }, c.conversation_id),
      el("span", { class: "muted small" },
        "customer " + (c.customer_id ?? DASH) + " · " + T.fmtTime(c.started_at) + " · " +
        T.fmtNumber(c.messages) + " messages"),
      c.booked ? T.badge("booked", "ok") : null))));
  }

  async function openConversation(id) {
    selectedConversation = id;
    for (const button of document.querySelectorAll("#conversation-results button[data-conversation-id]")) {
      if (button.getAttribute("data-conversation-id") === id) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    const reader = document.getElementById("conversation-reader");
    fill(reader, el("p", { class: "muted" }, "loading…"));
    try {
      const c = await T.api("/api/conversations/" + encodeURIComponent(id));
      if (selectedConversation !== id) return;
      const outcome = c.outcome;
      fill(reader,
        el("div", { class: "reader-head", "data-conversation-id": c.conversation_id },
          el("h3", { class: "mono" }, c.conversation_id),
          el("p", { class: "muted small" }, "customer " + (c.customer_id ?? DASH) + " · started " + T.fmtTime(c.started_at)),
          el("div", { class: "badges" },
            outcome
              ? T.badge(outcome.booked ? "booked" + (T.isNum(outcome.total_value) ? " " + T.fmtMoney(outcome.total_value) : "") : "not booked",
                outcome.booked ? "ok" : null)
              : T.badge("no outcome yet"),
            (c.edge_cases || []).map((reason) => T.badge(reason, "warn")))),
        T.conversationView(c, null));
    } catch (err) {
      if (selectedConversation === id) {
        fill(reader, el("p", { class: "error-text" }, err.status === 404 ? "No such conversation." : "Could not load: " + err.message));
      }
    }
  }

  function setupConversations() {
    const input = document.getElementById("conversation-search");
    let timer = null;
    const run = () => searchConversations().catch((err) => {
      document.getElementById("conversation-status").textContent = "search failed: " + err.message;
    });
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(run, 300); // debounce: one request per pause in typing
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        clearTimeout(timer);
        run();
      }
    });
    document.getElementById("conversation-results").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-conversation-id]");
      if (button) openConversation(button.getAttribute("data-conversation-id"));
    });
  }

  // ---- refresh loop --------------------------------------------------------------------------------

  let timer = null;
  let running = false;
  let again = false;

  async function refresh() {
    if (running) {
      again = true; // a range change mid-refresh: run once more right after
      return;
    }
    running = true;
    clearTimeout(timer);
    const loaders = [
      ["overview", loadOverview], ["readiness", loadReadiness], ["experiments", loadExperiments],
      ["costs", loadCosts], ["alerts", loadAlerts],
    ];
    // The recent-conversations list refreshes too, but never replaces what someone searched for.
    if (!document.getElementById("conversation-search").value.trim()) loaders.push(["conversations", searchConversations]);
    const results = await Promise.allSettled(loaders.map(([, load]) => load()));
    const failures = results
      .map((r, i) => (r.status === "rejected" ? loaders[i][0] + ": " + (r.reason && r.reason.message) : null))
      .filter(Boolean);
    document.getElementById("updated-at").textContent = "updated " + T.clock();
    document.getElementById("refresh-error").textContent = failures.length ? "(failed: " + failures.join("; ") + ")" : "";
    running = false;
    if (again) {
      again = false;
      refresh();
    } else {
      timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  function setupRange() {
    const buttons = document.querySelectorAll(".range-button");
    for (const button of buttons) {
      button.addEventListener("click", () => {
        range = button.getAttribute("data-range");
        for (const b of buttons) b.setAttribute("aria-pressed", b === button ? "true" : "false");
        refresh();
      });
    }
  }

  function start() {
    T.mountChrome("overview");
    T.checkOpenAccess();
    setupRange();
    setupConversations();
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
