// The Block jobs view (QEMU states, progress, rate, a settable speed
// limit, the verbs QEMU allows in each state) and the Storage view (SRs
// and their VDIs: sizes, utilisation, snapshot and backing chains, CBT,
// each object's job history; and the VMs).
"use strict";

(() => {
  const { $, h, setText, setAttr, st, get } = App;
  const MiB = 1 << 20;

  // ---------------------------------------------------------------------
  // Block jobs.

  // QEMU's verb table (job.c), as the buttons use it: the states in which
  // each verb is accepted. (Resume only makes sense on a paused job.)
  const VERBS = [
    ["pause", "Pause", ["created", "running", "ready"]],
    ["resume", "Resume", ["paused", "standby"]],
    ["complete", "Complete", ["ready"]],
    ["finalize", "Finalize", ["pending"]],
    ["dismiss", "Dismiss", ["concluded"]],
    ["cancel", "Cancel", ["created", "running", "paused", "ready", "standby", "waiting", "pending"]],
  ];
  const SPEED_STATES = ["created", "running", "paused", "ready", "standby"];

  const jobRows = new Map(); // ref -> row parts

  function jobRow(ref, j) {
    const p = {};
    const id = j.uuid;
    p.name = h("div", { class: "jname" });
    p.task = h("div", { class: "muted small" });
    p.type = h("td");
    p.objs = h("td");
    p.state = h("td");
    p.fill = h("div", { class: "fill" });
    p.bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 }, p.fill);
    p.ptext = h("div", { class: "ptext" });
    p.rate = h("td", { class: "num" });
    p.limit = h("div", { class: "small limit" });
    p.input = h("input", { id: `speed-${id}`, type: "number", min: 0, step: "any", inputmode: "decimal",
      class: "speed", placeholder: "MiB/s" });
    p.setBtn = h("button", { type: "submit" }, "Set");
    p.label = h("label", { for: `speed-${id}`, class: "sr-only" });
    p.form = h("form", { class: "speedform" }, p.label, p.input, p.setBtn);
    p.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = Number(p.input.value);
      if (!Number.isFinite(v) || v < 0 || p.input.value === "") {
        App.notice("The speed limit is a number of MiB/s (0: no limit).");
        return;
      }
      App.act(p.setBtn, "Setting the speed limit", async () => {
        await App.call("block_job.set_speed", ref, Math.round(v * MiB));
        p.input.value = "";
      });
    });
    p.verbs = VERBS.map(([verb, text]) => {
      const b = h("button", { type: "button", class: `verb verb-${verb}`, id: `job-${verb}-${id}` }, text);
      b.addEventListener("click", () => {
        const jj = st.stores.block_job.get(ref) || j;
        const args = verb === "cancel" ? [ref, false] : [ref];
        App.act(b, `${text} of job ${jj.job_id}`, () => App.call(`block_job.${verb}`, ...args));
      });
      return [verb, text, b];
    });
    p.el = h("tr", { id: `block_job-${id}`, tabindex: -1, "data-ref": ref },
      h("th", { scope: "row" }, p.name, p.task), p.type, p.objs, p.state,
      h("td", { class: "c-prog" }, p.bar, p.ptext), p.rate,
      h("td", {}, p.limit, p.form),
      h("td", { class: "c-act" }, ...p.verbs.map((v) => v[2])));
    return p;
  }

  function updateJob(p, ref, j) {
    const status = j.status || "";
    setText(p.name, j.job_id || j.uuid);
    const task = get("task", j.task);
    p.task.replaceChildren(task ? h("a", { href: `#task/${j.task}` }, `task: ${task.name_label}`) : "");
    setText(p.type, j.type + (j.sync ? ` (${j.sync})` : ""));
    const objKey = `${j.device}|${j.target}|${(get("vdi", j.device) || {}).name_label}|${(get("vdi", j.target) || {}).name_label}`;
    if (p.objKey !== objKey) {
      p.objKey = objKey;
      const hasTarget = j.target && j.target !== App.NULL;
      p.objs.replaceChildren(App.objectLink(j.device, "vdi"),
        ...(hasTarget ? [" \u2192 ", App.objectLink(j.target, "vdi")] : []));
    }
    const stateKey = `${status}|${j.io_status}|${j.error}`;
    if (p.stateKey !== stateKey) {
      p.stateKey = stateKey;
      App.fill(p.state, h("span", { class: `badge q-${status}` }, status),
        j.io_status && j.io_status !== "ok" ? h("span", { class: "badge s-failure" }, `io ${j.io_status}`) : null,
        j.error ? h("div", { class: "error small" }, j.error) : null);
    }
    const cur = Number(j.current_progress) || 0;
    const total = Number(j.total_progress) || 0;
    const pct = total ? Math.round((cur / total) * 1000) / 10 : status === "concluded" && !j.error ? 100 : 0;
    const label = j.job_id || j.uuid;
    setAttr(p.bar, "aria-valuenow", pct);
    setAttr(p.bar, "aria-label", `Progress of job ${label}`);
    setAttr(p.bar, "aria-valuetext", `${pct}%, ${App.bytes(cur)} of ${App.bytes(total)}`);
    p.fill.style.width = pct + "%";
    setText(p.ptext, `${pct}% \u00b7 ${App.bytes(cur)} / ${App.bytes(total)}`);
    const rate = Number(j.rate) || 0;
    setText(p.rate, rate ? `${App.bytes(rate)}/s` : "\u2014");
    const speed = Number(j.speed) || 0;
    setText(p.limit, speed ? `limit ${App.bytes(speed)}/s` : "no limit");
    setText(p.label, `Speed limit of job ${label} in MiB/s (0: no limit)`);
    const canSpeed = SPEED_STATES.includes(status) && App.can("block_job.set_speed");
    p.input.disabled = !canSpeed;
    p.setBtn.disabled = !canSpeed;
    setAttr(p.setBtn, "aria-label", `Set the speed limit of job ${label}`);
    for (const [verb, text, b] of p.verbs) {
      const states = VERBS.find((v) => v[0] === verb)[2];
      b.disabled = !(states.includes(status) && App.can(`block_job.${verb}`));
      setAttr(b, "aria-label", `${text} job ${label}`);
    }
  }

  function renderJobs() {
    const body = $("job-rows");
    const jobs = [...st.stores.block_job].sort(([a, x], [b, y]) =>
      String(x.job_id).localeCompare(String(y.job_id)) || (a < b ? -1 : 1));
    for (const [ref, p] of jobRows) {
      if (!st.stores.block_job.has(ref)) {
        p.el.remove();
        jobRows.delete(ref);
      }
    }
    let prev = null;
    for (const [ref, j] of jobs) {
      let p = jobRows.get(ref);
      if (!p) {
        p = jobRow(ref, j);
        jobRows.set(ref, p);
      }
      const next = prev ? prev.el.nextSibling : body.firstChild;
      if (p.el !== next) body.insertBefore(p.el, next);
      updateJob(p, ref, j);
      prev = p;
    }
    $("jobs-empty").hidden = jobs.length > 0;
  }

  // ---------------------------------------------------------------------
  // Storage.

  const openHistory = new Set(); // ids of the open job histories

  function meter(pct, label) {
    pct = Math.max(0, Math.min(100, pct));
    const fill = h("div", { class: "fill" });
    fill.style.width = pct + "%";
    return h("div", { class: "bar meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": Math.round(pct * 10) / 10, "aria-label": label }, fill);
  }

  // The "History (n)" button of an object's jobs, and the list it opens.
  function history(kind, o) {
    const jobs = Array.isArray(o.jobs) ? o.jobs : null;
    const id = `hist-${kind}-${o.uuid}`;
    if (!jobs) return { button: h("span", { class: "muted" }, "\u2014"), list: null };
    const open = openHistory.has(id);
    const button = h("button", { type: "button", class: "hist", id: `${id}-button`, "aria-expanded": open,
      "aria-controls": id, "aria-label": `Job history of ${o.name_label} (${jobs.length})`,
      onclick: () => {
        if (openHistory.has(id)) openHistory.delete(id);
        else openHistory.add(id);
        App.markAll();
      } }, `History (${jobs.length})`);
    if (!open) return { button, list: null };
    const items = jobs.map((r) => {
      const t = get("task", r);
      if (!t) return h("li", { class: "muted" }, `destroyed task ${r.slice(10, 18)}`);
      const start = App.parseTime(t.created);
      const end = App.parseTime(t.finished);
      return h("li", {}, h("a", { href: `#task/${r}` }, t.name_label), " ",
        h("span", { class: `badge s-${t.status}` }, t.status),
        ` ${start ? App.time(start) : ""}${end ? ` \u2013 ${App.time(end)}` : ""}`,
        t.status === "failure" ? h("span", { class: "error" }, " " + App.errorText(t.error_info)) : null);
    });
    const list = h("ul", { class: "history", id }, items.length ? items : h("li", { class: "muted" }, "no jobs yet"));
    return { button, list };
  }

  // SR ref + "/" + file name -> VDI ref (for the backing-file of a chain).
  let byLocation = new Map();

  // The VDI a VDI's image is an overlay on: its parent, or the VDI whose
  // file sm_config:backing-file names.
  function backingOf(v) {
    if (v.parent && v.parent !== App.NULL && get("vdi", v.parent)) return v.parent;
    const file = (v.sm_config || {})["backing-file"];
    return (file && byLocation.get(`${v.SR}/${file}`)) || null;
  }

  // A VDI's backing chain, from the image under it down to its base.
  function chain(v) {
    const links = [];
    let r = backingOf(v);
    for (let i = 0; r && i < 32; i++) {
      links.push(App.objectLink(r, "vdi"));
      r = backingOf(get("vdi", r));
    }
    if (!links.length) return "\u2014";
    const out = [];
    links.forEach((n, i) => out.push(i ? " \u2192 " : "", n));
    return h("span", { class: "chain" }, "on ", ...out);
  }

  function vdiRows(ref, v, depth) {
    const size = Number(v.virtual_size) || 0;
    const used = Number(v.physical_utilisation) || 0;
    const pct = size ? (used / size) * 100 : 0;
    const hist = history("vdi", v);
    const busy = Object.entries(v.current_operations || {});
    const nameCell = h("th", { scope: "row" },
      h("span", { class: "indent" + (depth ? " snap" : "") }),
      h("span", { class: "vname" }, v.name_label || v.uuid),
      v.is_a_snapshot ? h("span", { class: "badge s-snap" }, "snapshot") : null,
      v.read_only ? h("span", { class: "badge" }, "read-only") : null,
      ...busy.map(([t, op]) => h("a", { href: `#task/${t}`, class: "badge s-pending" }, op)),
      h("div", { class: "muted small" }, v.is_a_snapshot && App.parseTime(v.snapshot_time)
        ? `taken ${App.time(App.parseTime(v.snapshot_time))}` : v.location || ""));
    const cbt = v.cbt_enabled === undefined ? "\u2014" : v.cbt_enabled
      ? h("span", { class: "badge s-success" }, "on") : h("span", { class: "badge" }, "off");
    const rows = [h("tr", { id: `vdi-${v.uuid}`, tabindex: -1, class: depth ? "snaprow" : "" },
      nameCell,
      h("td", {}, (v.sm_config || {})["image-format"] || ""),
      h("td", { class: "num" }, App.bytes(size)),
      h("td", { class: "num" }, App.bytes(used)),
      h("td", {}, meter(pct, `Allocation of VDI ${v.name_label}`), h("div", { class: "small" }, `${pct.toFixed(1)}%`)),
      h("td", {}, chain(v)),
      h("td", {}, cbt),
      h("td", {}, hist.button))];
    if (hist.list) rows.push(h("tr", { class: "histrow" }, h("td", { colspan: 8 }, hist.list)));
    return rows;
  }

  function srSection(ref, sr) {
    const size = Number(sr.physical_size) || 0;
    const used = Number(sr.physical_utilisation) || 0;
    const virt = Number(sr.virtual_allocation) || 0;
    const pct = size ? (used / size) * 100 : 0;
    const vdis = [...st.stores.vdi].filter(([, v]) => v.SR === ref);
    const byName = ([a, x], [b, y]) => String(x.name_label).localeCompare(String(y.name_label)) || (a < b ? -1 : 1);
    const snapsOf = new Map();
    const tops = [];
    for (const e of vdis) {
      const [, v] = e;
      if (v.is_a_snapshot && get("vdi", v.snapshot_of)) {
        if (!snapsOf.has(v.snapshot_of)) snapsOf.set(v.snapshot_of, []);
        snapsOf.get(v.snapshot_of).push(e);
      } else {
        tops.push(e);
      }
    }
    tops.sort(byName);
    const body = [];
    for (const [r, v] of tops) {
      body.push(...vdiRows(r, v, 0));
      const snaps = (snapsOf.get(r) || []).sort(([, x], [, y]) =>
        String(x.snapshot_time).localeCompare(String(y.snapshot_time)));
      for (const [sr2, s] of snaps) body.push(...vdiRows(sr2, s, 1));
    }
    const hist = history("sr", sr);
    const head = ["VDI", "Format", "Virtual size", "On disk", "Allocated", "Backing chain", "CBT", "Jobs"];
    return h("section", { class: "sr card", id: `sr-${sr.uuid}`, tabindex: -1, "aria-labelledby": `srh-${sr.uuid}` },
      h("div", { class: "srhead" },
        h("h2", { id: `srh-${sr.uuid}` }, sr.name_label || sr.uuid),
        h("span", { class: "muted" }, `${sr.type} \u00b7 ${vdis.length} VDIs`),
        h("span", { class: "spacer" }), hist.button),
      h("div", { class: "meter-row" }, meter(pct, `Utilisation of SR ${sr.name_label}`),
        h("span", {}, `${App.bytes(used)} used of ${App.bytes(size)} (${pct.toFixed(1)}%) \u00b7 `
          + `virtual allocation ${App.bytes(virt)}`)),
      hist.list,
      vdis.length ? h("table", { class: "grid", "aria-label": `VDIs of ${sr.name_label}` },
        h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, ...body)) : h("p", { class: "muted" }, "No VDIs."));
  }

  function vmSection() {
    const vms = [...st.stores.vm].sort(([, x], [, y]) => String(x.name_label).localeCompare(String(y.name_label)));
    if (!vms.length) return null;
    const rows = [];
    for (const [, vm] of vms) {
      const hist = history("vm", vm);
      rows.push(h("tr", { id: `vm-${vm.uuid}`, tabindex: -1 },
        h("th", { scope: "row" }, vm.name_label || vm.uuid),
        h("td", {}, vm.power_state || ""),
        h("td", { class: "num" }, String((vm.VBDs || []).length)),
        h("td", {}, hist.button)));
      if (hist.list) rows.push(h("tr", { class: "histrow" }, h("td", { colspan: 4 }, hist.list)));
    }
    return h("section", { class: "card", "aria-labelledby": "vms-title" },
      h("div", { class: "srhead" }, h("h2", { id: "vms-title" }, "VMs")),
      h("table", { class: "grid", "aria-label": "VMs" },
        h("thead", {}, h("tr", {}, ...["VM", "Power state", "Disks", "Jobs"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, ...rows)));
  }

  function renderStorage(dirty, structural) {
    if (!(structural.sr || structural.vdi || structural.vm || structural.task
      || dirty.sr.size || dirty.vdi.size || dirty.vm.size)) return;
    const root = $("storage");
    // Drawn anew: the focused control is found again by its id.
    const focused = document.activeElement && root.contains(document.activeElement)
      ? document.activeElement.id : "";
    byLocation = new Map([...st.stores.vdi].map(([r, v]) => [`${v.SR}/${v.location}`, r]));
    const srs = [...st.stores.sr].sort(([, x], [, y]) => String(x.name_label).localeCompare(String(y.name_label)));
    root.replaceChildren(...srs.map(([r, sr]) => srSection(r, sr)), vmSection() || "");
    if (focused && $(focused)) $(focused).focus();
  }

  function focusObject(what, ref) {
    const o = get(what, ref);
    const el = o && $(`${what}-${o.uuid}`);
    if (!el) return;
    el.scrollIntoView({ block: "center" });
    el.classList.remove("flash");
    void el.offsetWidth; // restarts the animation
    el.classList.add("flash");
    el.focus({ preventScroll: true });
  }

  App.views.jobs = {
    render: () => renderJobs(),
    counts: () => setText($("count-jobs"), String(st.stores.block_job.size)),
    focus: focusObject,
    reset: () => {
      for (const p of jobRows.values()) p.el.remove();
      jobRows.clear();
    },
  };
  App.views.storage = {
    render: renderStorage,
    counts: () => setText($("count-storage"), String(st.stores.vdi.size)),
    focus: focusObject,
    reset: () => $("storage").replaceChildren(),
  };
})();
