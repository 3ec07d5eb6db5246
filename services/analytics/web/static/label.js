/* The labelling queue at `/label`: one customer turn at a time, labelled from the keyboard.
 *
 * Keys (also listed on the page): 1..9 (0 = 10th) pick the k-th choice in the focused group (tone, then
 * intent; Tab moves between groups and on to the slot fields), Enter saves and moves on, ArrowRight /
 * ArrowDown skip, ArrowLeft / ArrowUp go back. Inside a slot field typing works as usual and Enter
 * still saves.
 */
(function () {
  "use strict";

  const T = window.Teppan;
  const { el, fill, DASH } = T;
  const NAME_KEY = "teppan.labeller";
  const QUEUE_LIMIT = 50;
  const STATS_REFRESH_MS = 30000;

  const state = {
    vocab: { tones: [], intents: [], slots: [] },
    labeller: "",
    reason: "", // "" = all reasons
    items: [],
    index: 0,
    selection: { tone: null, intent: null },
    activeGroup: "tone", // the group number keys go to when focus is in neither group
    saving: false,
    saved: new Set(), // message_event_ids saved in this session, marked when going back to them
  };
  const conversations = new Map(); // conversation_id -> Promise of the conversation document

  const $ = (id) => document.getElementById(id);

  function status(text, kind) {
    const node = $("save-status");
    node.textContent = text;
    node.className = "save-status" + (kind ? " save-" + kind : "");
  }

  // ---- labeller name ----------------------------------------------------------------------------

  function readName() {
    try {
      return (localStorage.getItem(NAME_KEY) || "").trim();
    } catch (_) {
      return ""; // storage blocked: the name lives only as long as the page
    }
  }

  function storeName(name) {
    try {
      if (name) localStorage.setItem(NAME_KEY, name);
      else localStorage.removeItem(NAME_KEY);
    } catch (_) {
      /* storage blocked; keep going with the in-memory name */
    }
  }

  function showName() {
    $("labeller-display").textContent = state.labeller ? "labelling as " + state.labeller : "no labeller name";
    $("name-prompt").hidden = Boolean(state.labeller);
  }

  function commitName() {
    const name = $("labeller-name").value.trim();
    $("labeller-name").value = name;
    if (name === state.labeller) return;
    state.labeller = name;
    storeName(name);
    showName();
    // The queue leaves out what this labeller already labelled, so it depends on the name.
    if (name) loadQueue().then(focusGroup);
    else renderEmpty("Type your name above to start.");
  }

  // ---- vocabulary and choice groups ----------------------------------------------------------------

  function choiceButtons(group) {
    return Array.from($(group + "-choices").querySelectorAll("button[data-choice]"));
  }

  function renderChoices(group, values) {
    fill($(group + "-choices"), values.map((value, i) =>
      // tabindex -1: Tab moves between groups, not through every button (the group itself is focusable).
      el("button", { type: "button", class: "choice", "data-choice": value, "aria-pressed": "false", tabindex: "-1" },
        el("kbd", { class: "choice-key" }, i < 9 ? String(i + 1) : i === 9 ? "0" : ""), " ", value)));
    $(group + "-count").textContent = String(Math.min(values.length, 10));
  }

  function markChoices(group) {
    for (const button of choiceButtons(group)) {
      const on = button.getAttribute("data-choice") === state.selection[group];
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.classList.toggle("selected", on);
    }
  }

  function choose(group, value) {
    state.selection[group] = value;
    state.activeGroup = group;
    markChoices(group);
  }

  function chooseByNumber(group, k) {
    const buttons = choiceButtons(group);
    if (k >= 1 && k <= buttons.length) choose(group, buttons[k - 1].getAttribute("data-choice"));
  }

  function slotInputId(name) {
    return "slot-" + String(name).replace(/[^A-Za-z0-9_-]/g, "_");
  }

  function renderSlots(guessSlots) {
    fill($("slot-fields"), state.vocab.slots.map((name) => {
      const guess = guessSlots ? guessSlots[name] : null;
      return el("div", { class: "slot-field" },
        el("label", { for: slotInputId(name), class: "field-label" }, name.replace(/_/g, " ")),
        el("input", {
          id: slotInputId(name), type: "text", name, "data-slot": name, autocomplete: "off", spellcheck: "false",
          value: guess === null || guess === undefined ? "" : String(guess),
        }));
    }));
  }

  function focusGroup(group) {
    const target = $((typeof group === "string" ? group : "tone") + "-choices");
    if (document.activeElement === $("labeller-name")) return; // never steal focus from someone typing a name
    target.focus({ preventScroll: true });
  }

  // ---- queue ------------------------------------------------------------------------------------------

  function renderFilters(reasons) {
    const entries = Object.entries(reasons || {});
    if (state.reason && !entries.some(([r]) => r === state.reason)) entries.push([state.reason, 0]);
    const button = (reason, text) => el("button", {
      type: "button", class: "filter", "data-reason": reason, "aria-pressed": state.reason === reason ? "true" : "false",
    }, text);
    fill($("reason-filters"),
      button("", "All"),
      entries.map(([reason, count]) => button(reason, reason.replace(/_/g, " ") + " (" + T.fmtNumber(count) + ")")));
  }

  async function loadQueue() {
    if (!state.labeller) return;
    status("");
    $("queue-position").textContent = "loading…";
    try {
      const doc = await T.api("/api/queue" + T.query({ labeller: state.labeller, reason: state.reason, limit: QUEUE_LIMIT }));
      renderFilters(doc.reasons);
      state.items = Array.isArray(doc.items) ? doc.items : [];
      state.index = 0;
      await showItem();
    } catch (err) {
      $("queue-position").textContent = "";
      status("could not load the queue: " + err.message, "error");
    }
  }

  function currentItem() {
    return state.items[state.index] || null;
  }

  function renderEmpty(message) {
    state.selection = { tone: null, intent: null };
    markChoices("tone");
    markChoices("intent");
    renderSlots(null);
    fill($("item-meta"));
    fill($("item-conversation"), el("p", { class: "muted" }, message));
    $("queue-position").textContent = "";
  }

  function loadConversation(id) {
    if (!conversations.has(id)) {
      const promise = T.api("/api/conversations/" + encodeURIComponent(id));
      promise.catch(() => conversations.delete(id)); // a failure is not cached
      conversations.set(id, promise);
    }
    return conversations.get(id);
  }

  async function showItem() {
    const item = currentItem();
    if (!item) {
      renderEmpty(state.reason ? "Nothing left to label for this reason." : "Nothing left to label. Well done.");
      return;
    }
    $("queue-position").textContent = "item " + (state.index + 1) + " of " + state.items.length;

    // The model's guesses, pre-filled; a guess outside the vocabulary leaves the group unselected.
    const guess = item.guess || {};
    state.selection = {
      tone: state.vocab.tones.includes(guess.tone) ? guess.tone : null,
      intent: state.vocab.intents.includes(guess.intent) ? guess.intent : null,
    };
    markChoices("tone");
    markChoices("intent");
    renderSlots(guess.slots);
    state.activeGroup = "tone";

    fill($("item-meta"),
      item.reason ? T.badge(item.reason.replace(/_/g, " "), "warn") : T.badge("least sure"),
      item.path ? T.badge("path " + (item.path === "ml" ? "ML" : item.path), item.path === "ml" ? "ml" : "fast") : null,
      T.badge("confidence " + T.fmtDecimal(item.confidence, 2), T.isNum(item.confidence) && item.confidence < 0.5 ? "low" : null),
      state.saved.has(item.message_event_id) ? T.badge("saved", "ok") : null);

    const box = $("item-conversation");
    fill(box, el("p", { class: "muted" }, "loading conversation…"));
    let conversation = null;
    try {
      conversation = await loadConversation(item.conversation_id);
    } catch (_) {
      conversation = null;
    }
    if (currentItem() !== item) return; // moved on while it loaded
    if (conversation) {
      fill(box, el("p", { class: "muted small mono" }, item.conversation_id), T.conversationView(conversation, item.message_event_id));
    }
    if (!document.getElementById("current-turn")) {
      // No conversation (or the turn is not in it yet): show the turn on its own so it can still be labelled.
      fill(box, el("ol", { class: "turns" },
        el("li", { class: "turn turn-customer turn-current", id: "current-turn", "data-message-event-id": item.message_event_id },
          el("div", { class: "turn-head" }, el("span", { class: "turn-role" }, "customer"),
            el("span", { class: "turn-time" }, T.fmtTime(item.occurred_at))),
          el("p", { class: "turn-text" }, item.text === null || item.text === undefined ? "" : String(item.text)))));
    }
    const current = document.getElementById("current-turn");
    if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
  }

  async function move(step) {
    if (!state.items.length) {
      await loadQueue();
      return;
    }
    const next = state.index + step;
    if (next < 0) {
      status("this is the first item");
      return;
    }
    if (next >= state.items.length) {
      // End of this batch: fetch again (skipped turns come back, labelled ones do not).
      await loadQueue();
      status("reloaded the queue");
      focusGroup("tone");
      return;
    }
    state.index = next;
    status("");
    await showItem();
    focusGroup("tone");
  }

  // ---- saving -------------------------------------------------------------------------------------------

  async function save() {
    if (state.saving) return;
    const item = currentItem();
    if (!state.labeller) {
      status("type your name first", "error");
      $("labeller-name").focus();
      return;
    }
    if (!item) return;
    if (!state.selection.tone) {
      status("choose a tone first", "error");
      focusGroup("tone");
      return;
    }
    const slots = {};
    for (const input of $("slot-fields").querySelectorAll("input[data-slot]")) {
      const value = input.value.trim();
      slots[input.getAttribute("data-slot")] = value ? value : null; // null: the slot is not in the message
    }
    const body = { message_event_id: item.message_event_id, labeller: state.labeller, tone: state.selection.tone, slots };
    if (state.selection.intent) body.intent = state.selection.intent;

    state.saving = true;
    status("saving…");
    try {
      const result = await T.api("/api/labels", { method: "POST", body });
      state.saved.add(item.message_event_id);
      conversations.delete(item.conversation_id); // its labels changed
      const published = result && Array.isArray(result.published) ? result.published.length : 0;
      loadStats();
      if (state.index + 1 < state.items.length) {
        state.index += 1;
        await showItem();
      } else {
        await loadQueue();
      }
      status("saved (" + published + " label event" + (published === 1 ? "" : "s") + ")", "ok");
      focusGroup("tone");
    } catch (err) {
      if (err.status !== 401) status("not saved: " + err.message, "error");
    } finally {
      state.saving = false;
    }
  }

  // ---- progress and agreement --------------------------------------------------------------------------

  let statsTimer = null;

  function showKappa(field, agreement) {
    const a = agreement && agreement[field];
    const kappa = a && T.isNum(a.kappa) ? a.kappa : null;
    const node = $("agreement-" + field);
    T.setFigure(node, kappa, kappa === null ? DASH : kappa.toFixed(2));
    $("agreement-" + field + "-turns").textContent =
      a && T.isNum(a.turns) && a.turns > 0 ? "over " + T.fmtNumber(a.turns) + " turn" + (a.turns === 1 ? "" : "s") : "no turn labelled twice yet";
  }

  async function loadStats() {
    clearTimeout(statsTimer);
    try {
      const doc = await T.api("/api/labelling");
      const progress = (doc && doc.progress) || {};
      const done = T.isNum(progress.labelled_tone_examples) ? progress.labelled_tone_examples : null;
      const target = T.isNum(progress.target) && progress.target > 0 ? progress.target : 5000;
      const bar = $("tone-progress");
      bar.setAttribute("data-value", done === null ? "" : String(done));
      bar.querySelector(".bar-fill").style.width = Math.min(1, (done || 0) / target) * 100 + "%";
      bar.setAttribute("aria-valuemax", String(target));
      bar.setAttribute("aria-valuenow", String(done || 0));
      $("tone-target").textContent = T.fmtNumber(target);
      $("tone-progress-text").textContent = T.fmtNumber(done) + " / " + T.fmtNumber(target) +
        (done !== null ? " (" + T.fmtPercent(done / target) + ")" : "");
      const agreement = (doc && doc.agreement) || {};
      showKappa("tone", agreement);
      showKappa("intent", agreement);
    } catch (_) {
      /* the stats are secondary; the next round tries again */
    }
    statsTimer = setTimeout(loadStats, STATS_REFRESH_MS);
  }

  // ---- keyboard ---------------------------------------------------------------------------------------

  function isTextInput(node) {
    return node && (node.tagName === "TEXTAREA" || (node.tagName === "INPUT" && !["button", "submit", "checkbox", "radio"].includes(node.type)));
  }

  function focusedGroup(node) {
    const group = node && node.closest ? node.closest("[data-group]") : null;
    return group ? group.getAttribute("data-group") : null;
  }

  function onKeyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    if (target === $("labeller-name")) {
      if (event.key === "Enter") {
        event.preventDefault();
        target.blur(); // fires "change", which commits the name and loads the queue
        commitName(); // in case the value did not change since the last commit
        if (state.labeller) focusGroup("tone");
      }
      return;
    }
    if (event.key === "Enter") {
      // Links and the other buttons (filters, previous/next) keep their own Enter.
      if (target.closest && target.closest("a")) return;
      if (target.tagName === "BUTTON" && !target.hasAttribute("data-choice") && target.id !== "save-label") return;
      event.preventDefault();
      save();
      return;
    }
    if (isTextInput(target)) {
      if (event.key === "Escape") {
        target.blur();
        focusGroup(state.activeGroup);
      }
      return; // typing in a slot: digits and arrows edit the text
    }
    if (/^[0-9]$/.test(event.key)) {
      event.preventDefault();
      const group = focusedGroup(target) || state.activeGroup;
      chooseByNumber(group, event.key === "0" ? 10 : Number(event.key));
      return;
    }
    if (event.key === "ArrowRight" || event.key === "ArrowDown") {
      event.preventDefault();
      move(1);
    } else if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
      event.preventDefault();
      move(-1);
    }
  }

  // ---- wiring ----------------------------------------------------------------------------------------------

  function wire() {
    document.addEventListener("keydown", onKeyDown);
    $("labeller-name").addEventListener("change", commitName);
    for (const group of ["tone", "intent"]) {
      const box = $(group + "-choices");
      box.addEventListener("focusin", () => {
        state.activeGroup = group;
      });
      box.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-choice]");
        if (button) choose(group, button.getAttribute("data-choice"));
      });
    }
    $("reason-filters").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-reason]");
      if (!button) return;
      state.reason = button.getAttribute("data-reason");
      loadQueue().then(() => focusGroup("tone"));
    });
    $("label-form").addEventListener("submit", (event) => {
      event.preventDefault();
      save();
    });
    $("prev-item").addEventListener("click", () => move(-1));
    $("next-item").addEventListener("click", () => move(1));
  }

  async function start() {
    T.mountChrome("label", el("span", { id: "labeller-display", class: "labeller-display" }));
    T.checkOpenAccess();
    wire();
    state.labeller = readName();
    $("labeller-name").value = state.labeller;
    showName();
    loadStats();
    try {
      const vocab = await T.api("/api/vocabulary");
      state.vocab = {
        tones: Array.isArray(vocab.tones) ? vocab.tones : [],
        intents: Array.isArray(vocab.intents) ? vocab.intents : [],
        slots: Array.isArray(vocab.slots) ? vocab.slots : [],
      };
    } catch (err) {
      status("could not load the vocabulary: " + err.message, "error");
      return;
    }
    renderChoices("tone", state.vocab.tones);
    renderChoices("intent", state.vocab.intents);
    if (state.labeller) {
      await loadQueue();
      focusGroup("tone");
    } else {
      renderEmpty("Type your name above to start.");
      $("labeller-name").focus();
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
