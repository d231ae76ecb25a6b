// The Tasks view: every task as a tree (parents with their subtasks, as
// Xen Orchestra 6 shows them), drawn as a windowed list: only the rows in
// sight (and a few around) are in the document, so 10,000 tasks cost no
// more to draw than 20. Rows are kept per task and updated in place, so a
// focused button keeps its focus while its task progresses.
"use strict";

(() => {
  const { $, h, setText, setAttr, st, get, NULL } = App;
  const ROW_H = 64; // px; app.css's .trow height
  const OVERSCAN = 8;

  let rows = []; // [{ref, depth, kids}] in display order
  let index = new Map(); // ref -> position in rows
  const rowEls = new Map(); // ref -> row parts
  const collapsed = new Set();
  let selected = null;
  let filterText = "";
  let filterStatus = "";
  let count = { pending: 0, total: 0 };

  // -- the tree ---------------------------------------------------------

  function objectLabels(t) {
    return (Array.isArray(t.objects) ? t.objects : []).map((r) => {
      const o = get("vdi", r) || get("vm", r) || get("sr", r);
      return o ? o.name_label : "";
    });
  }

  function selfMatches(t) {
    if (filterStatus && t.status !== filterStatus) return false;
    if (!filterText) return true;
    const hay = [t.name_label, t.name_description, t.status, t.created_by, t.uuid,
      ...objectLabels(t)].join("\n").toLowerCase();
    return hay.includes(filterText);
  }

  function rebuild() {
    const tasks = st.stores.task;
    const kids = new Map();
    const roots = [];
    for (const [ref, t] of tasks) {
      const p = t.subtask_of;
      if (p && p !== NULL && p !== ref && tasks.has(p)) {
        let a = kids.get(p);
        if (!a) kids.set(p, (a = []));
        a.push(ref);
      } else {
        roots.push(ref);
      }
    }
    const created = (r) => tasks.get(r).created || "";
    // Newest first at the top; subtasks in the order they started.
    const seq = (r) => st.seq.get(r) || 0;
    const older = (a, b) => (created(a) < created(b) ? -1 : created(a) > created(b) ? 1 : seq(a) - seq(b));
    roots.sort((a, b) => older(b, a));
    const filtering = filterText !== "" || filterStatus !== "";
    const memo = new Map();
    const matches = (ref, depth) => {
      if (memo.has(ref)) return memo.get(ref);
      memo.set(ref, false); // a cycle counts as no match
      let m = selfMatches(tasks.get(ref));
      if (!m && depth < 32) m = (kids.get(ref) || []).some((k) => matches(k, depth + 1));
      memo.set(ref, m);
      return m;
    };
    const out = [];
    const seen = new Set();
    const walk = (ref, depth) => {
      if (seen.has(ref)) return;
      seen.add(ref);
      const ks = kids.get(ref) || [];
      ks.sort(older);
      out.push({ ref, depth, kids: ks.length });
      if (depth < 32 && (filtering || !collapsed.has(ref))) {
        for (const k of ks) if (!filtering || matches(k, depth + 1)) walk(k, depth + 1);
      }
    };
    for (const r of roots) if (!filtering || matches(r, 0)) walk(r, 0);
    rows = out;
    index = new Map(out.map((r, i) => [r.ref, i]));
    $("task-list").style.height = rows.length * ROW_H + "px";
    let pending = 0;
    for (const t of tasks.values()) if (t.status === "pending" || t.status === "cancelling") pending++;
    count = { pending, total: tasks.size };
    setText($("task-summary"), filtering
      ? `${rows.length} shown of ${tasks.size} tasks, ${pending} pending`
      : `${tasks.size} tasks, ${pending} pending`);
  }

  // -- one row -----------------------------------------------------------

  function makeRow(ref) {
    const p = {};
    p.indent = h("span", { class: "indent" });
    p.tog = h("button", { type: "button", class: "tog" });
    p.name = h("a", { class: "tname", href: `#task/${ref}` });
    p.sub = h("div", { class: "tsub" });
    p.objs = h("div", { class: "c-obj" });
    p.badge = h("span", { class: "badge" });
    p.fill = h("div", { class: "fill" });
    p.bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 }, p.fill);
    p.ptext = h("div", { class: "ptext" });
    p.started = h("div");
    p.finished = h("div", { class: "muted" });
    p.user = h("div", { class: "c-user" });
    p.cancel = h("button", { type: "button", class: "cancel", "data-ref": ref }, "Cancel");
    p.destroy = h("button", { type: "button", class: "destroy", "data-ref": ref }, "Destroy");
    p.el = h("div", { role: "listitem", class: "trow", "data-ref": ref },
      h("div", { class: "c-name" }, p.indent, p.tog, h("div", { class: "names" }, p.name, p.sub)),
      p.objs,
      h("div", { class: "c-status" }, p.badge),
      h("div", { class: "c-prog" }, p.bar, p.ptext),
      h("div", { class: "c-time" }, p.started, p.finished),
      p.user,
      h("div", { class: "c-act" }, p.cancel, p.destroy));
    p.objKey = null;
    return p;
  }

  // bytes/s of a task: its block job's measured rate, or its subtasks'.
  function rateOf(t, depth) {
    const job = get("block_job", t.other_config && t.other_config.block_job);
    if (job) return Number(job.rate) || 0;
    if (depth > 8 || !Array.isArray(t.subtasks)) return 0;
    let sum = 0;
    for (const k of t.subtasks) {
      const kt = get("task", k);
      if (kt && kt.status === "pending") sum += rateOf(kt, depth + 1);
    }
    return sum;
  }

  function update(p, r, i) {
    const t = st.stores.task.get(r.ref);
    if (!t) return;
    const label = t.name_label || t.uuid;
    p.el.style.top = i * ROW_H + "px";
    setAttr(p.el, "aria-level", r.depth + 1);
    setAttr(p.el, "aria-posinset", i + 1);
    setAttr(p.el, "aria-setsize", rows.length);
    p.el.classList.toggle("selected", r.ref === selected);
    p.indent.style.width = r.depth * 18 + "px";
    p.tog.classList.toggle("none", r.kids === 0);
    p.tog.disabled = r.kids === 0;
    if (r.kids) {
      const open = !collapsed.has(r.ref) || filterText !== "" || filterStatus !== "";
      setText(p.tog, `${open ? "\u25be" : "\u25b8"} ${r.kids}`);
      setAttr(p.tog, "aria-expanded", open);
      setAttr(p.tog, "aria-label", `${open ? "Collapse" : "Expand"} the ${r.kids} subtasks of ${label}`);
    }
    setText(p.name, label);
    setAttr(p.name, "title", `${label}: details`);
    const status = t.status || "";
    const err = status === "failure" || status === "cancelled" ? App.errorText(t.error_info) : "";
    setText(p.sub, err || t.name_description || "");
    setAttr(p.sub, "title", err || t.name_description || "");
    p.sub.classList.toggle("error", status === "failure");
    // Objects: links to the VDIs, VMs and SRs the task acts on.
    const objs = Array.isArray(t.objects) ? t.objects : [];
    const key = objs.join() + "|" + objectLabels(t).join("|");
    if (key !== p.objKey) {
      p.objKey = key;
      p.objs.replaceChildren(...objs.map((o) => App.objectLink(o)));
    }
    setText(p.badge, status);
    setAttr(p.badge, "class", `badge s-${status}`);
    // Progress, ETA, rate.
    const progress = status === "success" ? 1 : Math.min(1, Math.max(0, Number(t.progress) || 0));
    const pct = Math.round(progress * 1000) / 10;
    const pending = status === "pending";
    let text = `${pct}%`;
    const eta = App.parseTime(t.eta);
    if (pending && eta && progress > 0) {
      const left = (eta - Date.now()) / 1000;
      text += ` \u00b7 ETA ${App.time(eta)}${left >= 1 ? ` (${App.span(left)})` : ""}`;
    }
    const rate = pending ? rateOf(t, 0) : 0;
    if (rate > 0) text += ` \u00b7 ${App.bytes(rate)}/s`;
    setAttr(p.bar, "aria-valuenow", pct);
    setAttr(p.bar, "aria-valuetext", text);
    setAttr(p.bar, "aria-label", `Progress of ${label}`);
    p.fill.style.width = pct + "%";
    p.bar.className = `bar b-${status}`;
    setText(p.ptext, text);
    // Times and user.
    const start = App.parseTime(t.created);
    const end = App.parseTime(t.finished);
    setText(p.started, start ? `started ${App.time(start)}` : "");
    setText(p.finished, end && !pending ? `ended ${App.time(end)}${start ? ` (${App.span((end - start) / 1000)})` : ""}` : "");
    setText(p.user, t.created_by === undefined ? "" : t.created_by || "root");
    // Buttons: what the task allows, and what the user may do.
    const ops = Array.isArray(t.allowed_operations) ? t.allowed_operations : [];
    const mine = App.mayModify(t);
    p.cancel.disabled = !(ops.includes("cancel") && pending && mine && App.can("task.cancel"));
    p.destroy.disabled = !(!pending && status !== "cancelling" && mine && App.can("task.destroy"));
    setAttr(p.cancel, "aria-label", `Cancel task ${label}`);
    setAttr(p.destroy, "aria-label", `Destroy task ${label}`);
  }

  // -- the detail panel ------------------------------------------------

  function detail() {
    const panel = $("task-detail");
    const t = selected && st.stores.task.get(selected);
    panel.hidden = !t;
    $("view-tasks").classList.toggle("with-detail", !!t);
    if (!t) return;
    const row = (k, ...v) => [h("dt", {}, k), h("dd", {}, ...v)];
    const start = App.parseTime(t.created);
    const end = App.parseTime(t.finished);
    const eta = App.parseTime(t.eta);
    const job = get("block_job", t.other_config && t.other_config.block_job);
    const parent = get("task", t.subtask_of);
    const link = (ref) => h("a", { href: `#task/${ref}` }, (get("task", ref) || {}).name_label || ref);
    const result = typeof t.result === "string" ? t.result.replace(/<\/?value>/g, "") : "";
    const err = Array.isArray(t.error_info) ? t.error_info : [];
    App.fill(panel,
      h("div", { class: "dhead" },
        h("h2", {}, t.name_label || t.uuid),
        h("button", { type: "button", class: "close", "aria-label": "Close the details",
          onclick: () => { location.hash = "#tasks"; selected = null; App.markAll(); } }, "\u00d7")),
      err.length ? h("div", { class: "errbox", role: "note" },
        h("strong", {}, err[0]), ...err.slice(1).map((e) => h("div", {}, e))) : null,
      h("dl", {},
        row("Status", h("span", { class: `badge s-${t.status}` }, t.status)),
        row("Progress", `${Math.round((Number(t.progress) || 0) * 1000) / 10}%`),
        row("Started", App.fullTime(start)),
        end ? row("Ended", App.fullTime(end)) : row("Estimated end", eta ? App.fullTime(eta) : "unknown"),
        row("By", t.created_by === undefined ? "(not known)" : t.created_by || "root"),
        row("Objects", ...(Array.isArray(t.objects) && t.objects.length
          ? t.objects.map((o) => App.objectLink(o)) : ["none"])),
        t.name_description ? row("Description", t.name_description) : null,
        parent ? row("Subtask of", link(t.subtask_of)) : null,
        Array.isArray(t.subtasks) && t.subtasks.length ? row("Subtasks", ...t.subtasks.map(link)) : null,
        job ? row("Block job", h("a", { href: `#block_job/${t.other_config.block_job}` },
          `${job.type} ${job.job_id} (${job.status})`)) : null,
        result ? row("Result", result.startsWith("OpaqueRef:") ? App.objectLink(result) : result) : null,
        row("Allowed", (t.allowed_operations || []).join(", ") || "none"),
        row("UUID", h("code", {}, t.uuid)),
        row("Ref", h("code", {}, selected)),
        ...Object.entries(t.other_config || {}).map(([k, v]) => row(`other_config:${k}`, h("code", {}, v)))));
  }

  // -- the view ----------------------------------------------------------

  function render(dirty, structural) {
    // (counts() has rebuilt the tree if its shape changed.)
    const sc = $("task-scroll");
    const list = $("task-list");
    const height = sc.clientHeight || 800;
    const first = Math.max(0, Math.floor(sc.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((sc.scrollTop + height) / ROW_H) + OVERSCAN);
    const want = new Set();
    for (let i = first; i < last; i++) want.add(rows[i].ref);
    // Rows out of sight go first, so that the rest keep their place (and
    // their focus) in the document.
    for (const [ref, p] of rowEls) {
      if (!want.has(ref)) {
        p.el.remove();
        rowEls.delete(ref);
      }
    }
    let prev = null;
    for (let i = first; i < last; i++) {
      const r = rows[i];
      let p = rowEls.get(r.ref);
      if (!p) {
        p = makeRow(r.ref);
        rowEls.set(r.ref, p);
      }
      const next = prev ? prev.el.nextSibling : list.firstChild;
      if (p.el !== next) list.insertBefore(p.el, next);
      update(p, r, i);
      prev = p;
    }
    if (structural.task || structural.vdi || (selected && dirty.task.has(selected))) detail();
  }

  function counts() {
    const s = st.structural;
    if (s.task || (st.view === "tasks" && (s.vdi || s.vm || s.sr))) rebuild();
    setText($("count-tasks"), count.pending ? `${count.pending} / ${count.total}` : `${count.total}`);
    const n = count.pending;
    document.title = n ? `(${n}) xapid tasks` : "xapid";
  }

  // Shows a task: selected, in sight, its name focused.
  function focus(what, ref) {
    if (!st.stores.task.has(ref)) return;
    selected = ref;
    if (!index.has(ref)) {
      filterText = "";
      filterStatus = "";
      $("task-filter").value = "";
      $("task-status").value = "";
      let p = get("task", ref);
      for (let d = 0; p && d < 32; d++, p = get("task", p.subtask_of)) collapsed.delete(p.subtask_of);
      rebuild();
    }
    const i = index.get(ref);
    const sc = $("task-scroll");
    if (i !== undefined && (i * ROW_H < sc.scrollTop || (i + 1) * ROW_H > sc.scrollTop + sc.clientHeight)) {
      sc.scrollTop = Math.max(0, i * ROW_H - sc.clientHeight / 3);
    }
    App.markAll();
    requestAnimationFrame(() => {
      const p = rowEls.get(ref);
      if (p) p.name.focus();
    });
  }

  async function destroyFinished(ev) {
    const refs = [...st.stores.task].filter(([, t]) =>
      ["success", "failure", "cancelled"].includes(t.status) && App.mayModify(t)).map(([r]) => r);
    if (!refs.length) {
      App.notice("No finished task that you may destroy.");
      return;
    }
    if (!window.confirm(`Destroy ${refs.length} finished tasks?`)) return;
    await App.act(ev.currentTarget, "Destroy", async () => {
      let next = 0;
      const failures = [];
      const worker = async () => {
        while (next < refs.length) {
          const r = refs[next++];
          await App.call("task.destroy", r).catch((e) => failures.push(e.message));
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      if (failures.length) throw new Error(`${failures.length} refused, e.g. ${failures[0]}`);
    });
  }

  function init() {
    const list = $("task-list");
    list.addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (!b || b.disabled) return;
      const row = b.closest(".trow");
      const ref = row && row.dataset.ref;
      if (!ref) return;
      const t = st.stores.task.get(ref) || {};
      const label = t.name_label || ref;
      if (b.classList.contains("tog")) {
        if (collapsed.has(ref)) collapsed.delete(ref);
        else collapsed.add(ref);
        App.markAll();
      } else if (b.classList.contains("cancel")) {
        App.act(b, `Cancelling ${label}`, () => App.call("task.cancel", ref));
      } else if (b.classList.contains("destroy")) {
        App.act(b, `Destroying ${label}`, () => App.call("task.destroy", ref));
        if (selected === ref) selected = null;
      }
    });
    $("task-scroll").addEventListener("scroll", App.schedule, { passive: true });
    $("task-filter").addEventListener("input", (ev) => {
      filterText = ev.target.value.trim().toLowerCase();
      $("task-scroll").scrollTop = 0;
      App.markAll();
    });
    $("task-status").addEventListener("change", (ev) => {
      filterStatus = ev.target.value;
      $("task-scroll").scrollTop = 0;
      App.markAll();
    });
    $("destroy-finished").addEventListener("click", destroyFinished);
  }

  function reset() {
    rows = [];
    index = new Map();
    for (const p of rowEls.values()) p.el.remove();
    rowEls.clear();
    selected = null;
    $("task-detail").hidden = true;
  }

  App.views.tasks = { init, render, counts, focus, reset };
})();
