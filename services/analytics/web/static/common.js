/* Teppan: helpers shared by every page (dashboard, labelling queue, login).
 *
 * Everything the pages show comes from the API and some of it (chat messages, alert messages, names)
 * is typed by strangers, so nothing here ever parses a string as HTML: text goes through textContent /
 * createTextNode and attributes through setAttribute for a fixed allow-list.
 *
 * Exposed as the global `Teppan` (and as a CommonJS module so node can test the pure helpers).
 */
(function (root) {
  "use strict";

  const DASH = "\u2013"; // "–": what every formatter shows for a missing value

  // ---- element builder -------------------------------------------------------------------------

  // Attributes el() may set. Event-handler attributes (on*), style, srcdoc and the like are not here,
  // so data can never smuggle script or markup in through an attribute name.
  const ALLOWED_ATTRS = new Set([
    "id", "class", "type", "name", "value", "placeholder", "title", "role", "href", "for", "colspan",
    "rowspan", "scope", "disabled", "checked", "selected", "min", "max", "step", "autocomplete",
    "tabindex", "hidden", "method", "action", "lang", "datetime", "maxlength", "spellcheck",
    "autofocus", "required", "inputmode", "enterkeyhint", "target", "rel",
  ]);
  const PREFIXED_ATTR = /^(data|aria)-[a-z0-9-]+$/;
  // Links may only go to this site (absolute path or fragment) or to http(s); never javascript: URLs.
  const SAFE_HREF = /^(\/(?!\/)|#|https?:\/\/)/i;

  function setAttr(node, name, value) {
    if (!ALLOWED_ATTRS.has(name) && !PREFIXED_ATTR.test(name)) {
      throw new Error("el(): attribute not allowed: " + name);
    }
    if (value === false || value === null || value === undefined) return;
    const text = value === true ? "" : String(value);
    if (name === "href" && !SAFE_HREF.test(text)) {
      throw new Error("el(): unsafe href");
    }
    node.setAttribute(name, text);
  }

  function appendChildren(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) {
        appendChildren(node, child);
      } else if (typeof child === "object" && typeof child.nodeType === "number") {
        node.appendChild(child);
      } else {
        node.appendChild(document.createTextNode(String(child)));
      }
    }
  }

  /** el("td", {class: "num"}, "12", otherNode): an element; strings become text nodes, never markup. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [name, value] of Object.entries(attrs)) setAttr(node, name, value);
    }
    appendChildren(node, children);
    return node;
  }

  /** Replace all children of `node` with `children` (text or nodes). */
  function fill(node, ...children) {
    node.replaceChildren();
    appendChildren(node, children);
    return node;
  }

  /** Set a figure's value element: formatted text plus data-value with the raw number ("" for none). */
  function setFigure(node, raw, formatted) {
    node.textContent = formatted;
    node.setAttribute("data-value", raw === null || raw === undefined ? "" : String(raw));
    return node;
  }

  // ---- formatters ------------------------------------------------------------------------------

  function isNum(v) {
    return typeof v === "number" && Number.isFinite(v);
  }

  function fmtNumber(v, digits = 0) {
    if (!isNum(v)) return DASH;
    return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  /** Up to `digits` decimals, trailing zeros dropped: 7.5, 12, 0.83. */
  function fmtDecimal(v, digits = 2) {
    if (!isNum(v)) return DASH;
    return v.toLocaleString("en-US", { maximumFractionDigits: digits });
  }

  /** A fraction in [0, 1] as a percentage: 0.312 -> "31.2%". */
  function fmtPercent(v, digits = 1) {
    if (!isNum(v)) return DASH;
    return (v * 100).toFixed(digits) + "%";
  }

  /** USD; amounts under a dollar keep four decimals since LLM calls cost fractions of a cent. */
  function fmtMoney(v) {
    if (!isNum(v)) return DASH;
    const small = Math.abs(v) < 1 && v !== 0;
    return v.toLocaleString("en-US", {
      style: "currency", currency: "USD",
      minimumFractionDigits: 2, maximumFractionDigits: small ? 4 : 2,
    });
  }

  function fmtMs(v) {
    if (!isNum(v)) return DASH;
    return (Math.abs(v) < 10 ? v.toFixed(1) : fmtNumber(v)) + " ms";
  }

  /** p-values: small ones in exponent form so "0.000" never hides a real effect. */
  function fmtP(v) {
    if (!isNum(v)) return DASH;
    return v < 0.001 ? v.toExponential(1) : v.toFixed(3);
  }

  function pad2(n) {
    return String(n).padStart(2, "0");
  }

  function clock(date = new Date()) {
    return pad2(date.getHours()) + ":" + pad2(date.getMinutes()) + ":" + pad2(date.getSeconds());
  }

  /** ISO time (UTC from the API) in the reader's local time, "2026-12-06 17:05". */
  function fmtTime(iso) {
    if (!iso) return DASH;
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " +
      pad2(d.getHours()) + ":" + pad2(d.getMinutes());
  }

  /** ISO time -> seconds since the epoch, the x unit uPlot's time scales use. */
  function toEpochSeconds(iso) {
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? null : ms / 1000;
  }

  // ---- API ----------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.name = "ApiError";
      this.status = status;
    }
  }

  function readCookie(name, cookieString) {
    const source = cookieString === undefined ? document.cookie : cookieString;
    for (const part of source.split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() === name) {
        const raw = part.slice(eq + 1).trim();
        try {
          return decodeURIComponent(raw);
        } catch (_) {
          return raw;
        }
      }
    }
    return "";
  }

  /** "?a=1&b=x" from an object, leaving out null/undefined/"" values. */
  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      if (value === null || value === undefined || value === "") continue;
      search.set(key, String(value));
    }
    const text = search.toString();
    return text ? "?" + text : "";
  }

  /** A readable message from an error body: FastAPI's {"detail": "..."} or {"detail": [{loc, msg}]}. */
  function errorMessage(body, status) {
    const detail = body && typeof body === "object" ? body.detail : null;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((item) => {
        if (!item || typeof item !== "object") return String(item);
        // loc is ["body", "tone"]: the field is what the labeller needs to see.
        const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return (loc ? loc + ": " : "") + (item.msg || "invalid");
      }).join("; ");
    }
    if (detail && typeof detail === "object" && detail.msg) return String(detail.msg);
    return "HTTP " + status;
  }

  let redirecting = false;

  function loginUrl() {
    return "/login" + query({ next: location.pathname + location.search });
  }

  /**
   * fetch() a JSON endpoint. options: {method, body (an object, sent as JSON), redirectOn401}.
   * A 401 means the session is gone: go to the login page and come back here afterwards.
   * POSTs carry the CSRF cookie's value in X-CSRF-Token (double-submit; see docs/api.md).
   */
  async function api(path, options = {}) {
    const method = (options.method || "GET").toUpperCase();
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET" && method !== "HEAD") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = readCookie("teppan_csrf");
      if (options.body !== undefined) init.body = JSON.stringify(options.body);
    }
    const response = await fetch(path, init);
    if (response.status === 401 && options.redirectOn401 !== false) {
      if (!redirecting) {
        redirecting = true;
        location.assign(loginUrl());
      }
      throw new ApiError(401, "not logged in");
    }
    let body = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
    }
    if (!response.ok) throw new ApiError(response.status, errorMessage(body, response.status));
    return body;
  }

  // ---- page chrome: open-access banner and nav bar --------------------------------------------

  const OPEN_TEXT =
    "Open: no TEPPAN_API_TOKEN is set, so anyone who can reach this address can read and label.";

  /** Ask /api/session whether a token guards the API; without one, put the red banner on top. */
  async function checkOpenAccess(options = {}) {
    try {
      const session = await api("/api/session", { redirectOn401: options.redirectOn401 });
      if (session && session.token_required === false && !document.getElementById("open-warning")) {
        document.body.prepend(el("div", { id: "open-warning", class: "open-warning", role: "alert" }, OPEN_TEXT));
      }
      return session;
    } catch (_) {
      return null; // the pages' own requests report errors; the banner is best effort
    }
  }

  const NAV_LINKS = [
    { key: "overview", href: "/", text: "Overview" },
    { key: "label", href: "/label", text: "Labelling queue" },
    { key: "docs", href: "/openapi.json", text: "API (OpenAPI)" },
  ];

  /** The site header with the nav bar; `extra` (a node) goes on its right, e.g. the labeller's name. */
  function mountChrome(active, extra) {
    const links = NAV_LINKS.map((link) =>
      el("a", { href: link.href, class: "nav-link", "aria-current": link.key === active ? "page" : null }, link.text));
    const header = el("header", { class: "site-header", id: "site-header" },
      el("a", { href: "/", class: "brand" }, "Teppan"),
      el("nav", { id: "nav", class: "nav", "aria-label": "Main" }, links),
      extra ? el("div", { class: "header-extra" }, extra) : null);
    document.body.prepend(header);
    return header;
  }

  // ---- charts (uPlot) -----------------------------------------------------------------------------

  const PALETTE = ["#2f6f9f", "#c2572b", "#3c8d5a", "#8a5fb0", "#b8912f", "#4a9aa8", "#a3445e"];
  const charts = new Map(); // container element -> {plot, key, height}

  function hasData(values) {
    return Array.isArray(values) && values.some(isNum);
  }

  function destroyChart(container) {
    const entry = charts.get(container);
    if (entry) {
      entry.plot.destroy();
      charts.delete(container);
    }
  }

  function chartWidth(container) {
    // A container in a hidden or collapsed layout reports 0; fall back to something drawable.
    return Math.max(Math.floor(container.clientWidth), 120);
  }

  /**
   * Draw (or update in place) a chart in `container`.
   * spec: {x: [epoch seconds], series: [{label, values, format?}], height?, spark?, bars?, xPad?, yFormat?}
   * All-empty series show "no data yet" instead of an empty frame.
   */
  function drawChart(container, spec) {
    const series = spec.series || [];
    // A line needs two points: one alone gives uPlot a zero-width x range and an axis of made-up dates.
    const fewest = spec.bars ? 1 : 2;
    if (!Array.isArray(spec.x) || spec.x.length < fewest || !series.some((s) => hasData(s.values))) {
      destroyChart(container);
      fill(container, el("p", { class: "no-data" }, spec.emptyText || "no data yet"));
      return null;
    }
    if (typeof root.uPlot !== "function") {
      fill(container, el("p", { class: "no-data" }, "charts unavailable (uPlot not loaded)"));
      return null;
    }
    const height = spec.height || (spec.spark ? 44 : 200);
    const data = [spec.x, ...series.map((s) => s.values.map((v) => (isNum(v) ? v : null)))];
    const key = JSON.stringify([!!spec.spark, !!spec.bars, spec.xPad || 0, height, series.map((s) => s.label)]);
    const existing = charts.get(container);
    if (existing && existing.key === key && container.contains(existing.plot.root)) {
      existing.plot.setData(data);
      return existing.plot;
    }
    destroyChart(container);
    container.replaceChildren();
    const uPlot = root.uPlot;
    const bars = spec.bars && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : null;
    const yFormat = spec.yFormat || ((v) => fmtDecimal(v, 2));
    const opts = {
      width: chartWidth(container),
      height,
      legend: { show: !spec.spark },
      cursor: spec.spark ? { show: false } : { drag: { x: false, y: false } },
      select: { show: false },
      // xPad (seconds) keeps the first and last bar from being cut in half at the plot's edges.
      scales: { x: spec.xPad ? { time: true, range: (u, min, max) => [min - spec.xPad, max + spec.xPad] } : { time: true } },
      axes: spec.spark
        ? [{ show: false }, { show: false }]
        : [
          { stroke: "#5b6470", grid: { stroke: "#eceef1" }, ticks: { stroke: "#d8dce1" } },
          {
            stroke: "#5b6470", grid: { stroke: "#eceef1" }, ticks: { stroke: "#d8dce1" }, size: 60,
            values: (u, ticks) => ticks.map((t) => yFormat(t)),
          },
        ],
      series: [
        {},
        ...series.map((s, i) => {
          const color = s.color || PALETTE[i % PALETTE.length];
          return {
            label: s.label,
            stroke: color,
            width: spec.spark ? 1.5 : 2,
            fill: bars ? color + "cc" : spec.spark ? color + "22" : undefined,
            paths: bars || undefined,
            points: { show: bars ? false : undefined, size: spec.spark ? 3 : 5 },
            // The legend's text; s.format also gets the point's index (e.g. to show a raw count).
            value: (u, v, si, i) => (v === null || v === undefined ? DASH : s.format ? s.format(v, i) : yFormat(v)),
          };
        }),
      ],
    };
    const plot = new uPlot(opts, data, container);
    charts.set(container, { plot, key, height });
    return plot;
  }

  // uPlot draws at fixed pixel sizes: follow the containers' widths when the window changes.
  let resizeTimer = null;
  function resizeCharts() {
    for (const [container, entry] of charts) {
      if (!container.isConnected) {
        destroyChart(container);
        continue;
      }
      entry.plot.setSize({ width: chartWidth(container), height: entry.height });
    }
  }
  if (typeof window !== "undefined" && window.addEventListener) {
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(resizeCharts, 150);
    });
  }

  // ---- small widgets ------------------------------------------------------------------------------

  /** A horizontal bar: `fraction` of the track filled (clamped); "warn"/"over" classes near and past 1. */
  function progressBar(fraction, attrs = {}) {
    const fillNode = el("span", { class: "bar-fill" });
    const cls = ["bar"];
    if (isNum(fraction)) {
      fillNode.style.width = Math.max(0, Math.min(1, fraction)) * 100 + "%";
      if (fraction >= 1) cls.push("bar-over");
      else if (fraction >= 0.8) cls.push("bar-warn");
    }
    if (attrs.class) cls.push(attrs.class);
    return el("div", { role: "presentation", ...attrs, class: cls.join(" ") }, fillNode);
  }

  function badge(text, kind) {
    return el("span", { class: "badge" + (kind ? " badge-" + kind : "") }, text);
  }

  /**
   * One conversation, turn by turn: role, time, the text (as text), and for analysed customer turns the
   * model's reading as badges. `currentEventId` marks one turn with id "current-turn" (labelling queue).
   */
  function conversationView(conversation, currentEventId) {
    const turns = (conversation.turns || []).map((turn) => {
      const isCurrent = currentEventId && turn.message_event_id === currentEventId;
      const analysis = turn.analysis;
      const badges = [];
      if (analysis) {
        badges.push(badge("path " + (analysis.path === "ml" ? "ML" : analysis.path || DASH), analysis.path === "ml" ? "ml" : "fast"));
        if (analysis.tone) badges.push(badge("tone " + analysis.tone, "tone"));
        if (analysis.intent) badges.push(badge("intent " + analysis.intent, "intent"));
        if (analysis.sentiment) badges.push(badge("sentiment " + analysis.sentiment));
        for (const [name, value] of Object.entries(analysis.slots || {})) {
          badges.push(badge(name + " = " + (value === null || value === undefined ? DASH : String(value)), "slot"));
        }
        badges.push(badge("confidence " + fmtDecimal(analysis.confidence, 2),
          isNum(analysis.confidence) && analysis.confidence < 0.5 ? "low" : null));
        if (analysis.escalate) badges.push(badge("escalated", "warn"));
      }
      const labels = (turn.labels || []).map((label) =>
        badge("labelled " + (label.entity_name ? label.entity_name : label.field) + " = " +
          (label.value === null || label.value === undefined ? "(absent)" : String(label.value)) +
          (label.labeller ? " by " + label.labeller : ""), "label"));
      return el("li", {
        class: "turn turn-" + String(turn.role || "unknown").replace(/[^a-z_]/g, "") + (isCurrent ? " turn-current" : ""),
        id: isCurrent ? "current-turn" : null,
        "data-turn-index": turn.turn_index,
        "data-message-event-id": turn.message_event_id,
      },
      el("div", { class: "turn-head" },
        el("span", { class: "turn-role" }, turn.role || DASH),
        el("span", { class: "turn-time" }, fmtTime(turn.occurred_at))),
      el("p", { class: "turn-text" }, turn.text === null || turn.text === undefined ? "" : String(turn.text)),
      badges.length ? el("div", { class: "badges" }, badges) : null,
      labels.length ? el("div", { class: "badges" }, labels) : null);
    });
    return el("ol", { class: "turns" }, turns);
  }

  const Teppan = {
    DASH, el, fill, setFigure, isNum,
    fmtNumber, fmtDecimal, fmtPercent, fmtMoney, fmtMs, fmtP, fmtTime, clock, toEpochSeconds,
    ApiError, api, query, readCookie, errorMessage, loginUrl,
    checkOpenAccess, mountChrome, drawChart, destroyChart, progressBar, badge, conversationView,
  };

  root.Teppan = Teppan;
  if (typeof module !== "undefined" && module.exports) module.exports = Teppan;
})(typeof window !== "undefined" ? window : globalThis);
