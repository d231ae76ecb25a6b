// xapid's web view, the core: JSON-RPC, login, the event loop that keeps
// a copy of the server's objects, rendering on animation frames, tabs and
// navigation. The views (tasks.js, views.js) register themselves in
// App.views. No framework, no build step, nothing from another origin.
"use strict";

const App = (() => {
  const NULL = "OpaqueRef:NULL";
  const EPOCH = "19700101T00:00:00Z";
  // The classes the page follows with event.from (xapi's lower-case names).
  const CLASSES = ["task", "block_job", "vdi", "sr", "vm"];
  // How long one event.from waits for a change, in seconds (a long poll:
  // it returns as soon as something changes).
  const WAIT = 30;

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------
  // Small DOM helpers.

  // h("button", {class: "x", onclick: f}, "text", child...): an element.
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k.startsWith("aria-")) {
        el.setAttribute(k, String(v)); // aria-expanded="false" and the like
        continue;
      }
      if (v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  // Replaces an element's children (null and false are left out).
  function fill(el, ...kids) {
    el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  }

  // Sets an element's text only when it changes (no layout work otherwise).
  function setText(el, s) {
    s = String(s);
    if (el.textContent !== s) el.textContent = s;
  }

  function setAttr(el, k, v) {
    v = String(v);
    if (el.getAttribute(k) !== v) el.setAttribute(k, v);
  }

  // ---------------------------------------------------------------------
  // Formatting.

  function bytes(n) {
    n = Number(n) || 0;
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
  }

  // "20261202T15:51:48Z" -> Date (null for the epoch or junk).
  function parseTime(s) {
    if (!s || s === EPOCH || typeof s !== "string") return null;
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(s);
    if (!m) return null;
    return new Date(Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  }

  const pad = (n) => String(n).padStart(2, "0");

  // A time, local: "15:51:48" today, "2026-12-01 15:51:48" otherwise.
  function time(d) {
    if (!d) return "";
    const now = new Date();
    const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (d.toDateString() === now.toDateString()) return hms;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
  }

  // A time, local, in full: "2026-12-02 15:51:48".
  function fullTime(d) {
    if (!d) return "";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
      + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // A duration in seconds: "42 s", "3 min 12 s", "2 h 05 min".
  function span(sec) {
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return `${sec} s`;
    if (sec < 3600) return `${Math.floor(sec / 60)} min ${pad(sec % 60)} s`;
    return `${Math.floor(sec / 3600)} h ${pad(Math.floor((sec % 3600) / 60))} min`;
  }

  // An error description ([CODE, params...]) as one readable line.
  function errorText(desc) {
    if (!Array.isArray(desc) || desc.length === 0) return "";
    const [code, ...params] = desc;
    return params.length ? `${code}: ${params.join(", ")}` : String(code);
  }

  // ---------------------------------------------------------------------
  // JSON-RPC.

  class ApiError extends Error {
    constructor(desc) {
      super(errorText(desc));
      this.desc = desc;
    }
  }

  let rpcId = 0;

  async function rpc(method, params, signal) {
    let res;
    try {
      res = await fetch("/jsonrpc", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", method, params, id: ++rpcId }),
        cache: "no-store",
        credentials: "omit",
        signal,
      });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError(["NETWORK_ERROR", "the server cannot be reached"]);
    }
    if (!res.ok) throw new ApiError([`HTTP_${res.status}`, (await res.text()).trim()]);
    const out = await res.json();
    if (out.error) {
      const err = out.error;
      throw new ApiError(Array.isArray(err) ? err : [err.message, ...(err.data || [])]);
    }
    return out.result;
  }

  // A call with the session as its first argument.
  const call = (method, ...params) => rpc(method, [st.session, ...params]);

  // ---------------------------------------------------------------------
  // State.

  const st = {
    session: null,
    // Who is logged in: name, sid, root (local superuser), perms (a Set,
    // or null when unknown: buttons stay enabled and the server decides).
    me: null,
    token: "",
    stores: Object.fromEntries(CLASSES.map((c) => [c, new Map()])),
    // Bumped at every login and logout: an older event loop stops.
    gen: 0,
    abort: null,
    view: "tasks",
    // What changed since the last frame, per class: refs, and whether the
    // shape of the view changed (an add, a delete, a new status...).
    dirty: Object.fromEntries(CLASSES.map((c) => [c, new Set()])),
    structural: Object.fromEntries(CLASSES.map((c) => [c, true])),
    loaded: false,
    // ref -> the order in which the page first saw it (ties of `created`,
    // which has whole seconds, are broken by it).
    seq: new Map(),
    nextSeq: 0,
  };

  const views = {};

  const get = (cls, ref) => (ref && ref !== NULL ? st.stores[cls].get(ref) : undefined);

  // Whether the user holds a permission (e.g. "block_job.pause").
  function can(perm) {
    const me = st.me;
    return !me || me.root || me.perms === null || me.perms.has(perm);
  }

  // Whether the user may cancel or destroy a task: its creator may, and
  // holders of task.destroy/any (pool-operator and up), as the server
  // checks (domain/tasks.rs assert_can_modify).
  function mayModify(task) {
    const me = st.me;
    if (!me || me.root || me.perms === null || me.perms.has("task.destroy/any")) return true;
    const by = task.created_by;
    if (by === undefined) return true; // an older server: let it decide
    return by !== "" && (by === me.name || by === me.sid);
  }

  // A label and a link for an object ref the page holds.
  function objectLink(ref, cls) {
    const classes = cls ? [cls] : ["vdi", "vm", "sr"];
    for (const c of classes) {
      const o = get(c, ref);
      if (o) {
        const kind = { vdi: "VDI", vm: "VM", sr: "SR" }[c];
        return h("a", { href: `#${c}/${ref}`, class: `obj obj-${c}`, title: `${kind} ${o.uuid}` },
          o.name_label || o.uuid);
      }
    }
    return h("span", { class: "obj gone", title: ref }, "gone " + ref.slice(10, 18));
  }

  // ---------------------------------------------------------------------
  // Rendering: everything the events change is drawn on the next frame.

  let framePending = false;

  function schedule() {
    if (framePending) return;
    framePending = true;
    requestAnimationFrame(frame);
  }

  function frame() {
    framePending = false;
    if (!st.me) return;
    for (const v of Object.values(views)) v.counts && v.counts();
    const v = views[st.view];
    if (v) v.render(st.dirty, st.structural);
    // Views not shown are drawn whole when they are shown.
    for (const c of CLASSES) {
      st.dirty[c].clear();
      st.structural[c] = false;
    }
  }

  function markAll() {
    for (const c of CLASSES) st.structural[c] = true;
    schedule();
  }

  // The fields of a task whose change reorders or refilters the tree.
  const TASK_SHAPE = ["status", "subtask_of", "name_label", "created", "created_by"];

  function apply(events) {
    for (const ev of events) {
      const cls = String(ev.class).toLowerCase();
      const store = st.stores[cls];
      if (!store) continue;
      const old = store.get(ev.ref);
      if (ev.operation === "del") {
        store.delete(ev.ref);
        st.seq.delete(ev.ref);
        st.structural[cls] = true;
      } else if (ev.snapshot && typeof ev.snapshot === "object") {
        store.set(ev.ref, ev.snapshot);
        if (!st.seq.has(ev.ref)) st.seq.set(ev.ref, st.nextSeq++);
        if (!old || cls !== "task") st.structural[cls] = true;
        else if (TASK_SHAPE.some((f) => old[f] !== ev.snapshot[f])) st.structural.task = true;
        else if (String(old.subtasks) !== String(ev.snapshot.subtasks)) st.structural.task = true;
      }
      st.dirty[cls].add(ev.ref);
      // A job's rate shows on its task's row.
      if (cls === "block_job") {
        const j = store.get(ev.ref) || old;
        if (j && j.task) st.dirty.task.add(j.task);
      }
    }
    schedule();
  }

  // ---------------------------------------------------------------------
  // The event loop: event.from in a loop, each call a long poll.

  function setLive(ok, why) {
    const el = $("live");
    setText(el, ok ? "live" : `reconnecting (${why})`);
    el.classList.toggle("down", !ok);
  }

  async function eventLoop(gen) {
    let backoff = 250;
    while (gen === st.gen) {
      try {
        const first = st.token === "";
        const r = await rpc("event.from", [st.session, CLASSES, st.token, first ? 0 : WAIT],
          st.abort.signal);
        if (gen !== st.gen) return;
        if (first) {
          for (const c of CLASSES) st.stores[c].clear();
          st.seq.clear();
          markAll();
        }
        st.token = r.token;
        apply(r.events || []);
        if (first) {
          st.loaded = true;
          document.body.classList.add("loaded");
          // A link to an object (#task/<ref>...) can be followed now.
          if (location.hash.includes("/")) navigate();
        }
        setLive(true);
        backoff = 250;
      } catch (e) {
        if (gen !== st.gen || e.name === "AbortError") return;
        const code = e.desc && e.desc[0];
        if (code === "SESSION_INVALID") {
          leave("Your session has ended: log in again.");
          return;
        }
        if (code === "EVENTS_LOST" || code === "EVENT_FROM_TOKEN_PARSE_FAILURE") {
          st.token = ""; // start again from everything
          continue;
        }
        setLive(false, code || e.message);
        // A retry after a failure (not a poll): waits longer each time.
        await new Promise((ok) => setTimeout(ok, backoff));
        backoff = Math.min(backoff * 2, 8000);
      }
    }
  }

  // ---------------------------------------------------------------------
  // Login and logout.

  async function whoAmI(s) {
    try {
      const rec = await rpc("session.get_record", [s, s]);
      return {
        name: rec.auth_user_name || "",
        sid: rec.auth_user_sid || "",
        root: !!rec.is_local_superuser,
        perms: Array.isArray(rec.rbac_permissions) ? new Set(rec.rbac_permissions) : null,
      };
    } catch (e) {
      // Unknown: every button is enabled, and the server's answer shows.
      return { name: $("username").value, sid: "", root: false, perms: null };
    }
  }

  async function enter(s) {
    const me = await whoAmI(s);
    st.session = s;
    st.me = me;
    st.token = "";
    st.gen++;
    st.abort = new AbortController();
    st.loaded = false;
    document.body.classList.remove("loaded");
    try {
      sessionStorage.setItem("xapid-session", s);
    } catch (e) {
      /* storage off: the session lasts as long as the page */
    }
    $("login-view").hidden = true;
    $("app").hidden = false;
    const role = me.root ? "local superuser" : me.perms === null ? "" : roleOf(me.perms);
    setText($("whoami"), me.name + (role ? ` (${role})` : ""));
    setLive(false, "loading");
    navigate();
    eventLoop(st.gen);
  }

  // The user's highest role, judged from a few of its permissions.
  function roleOf(perms) {
    if (perms.has("subject.add_to_roles")) return "pool-admin";
    if (perms.has("task.destroy/any")) return "pool-operator";
    if (perms.has("vdi.copy")) return "vm-admin";
    return "read-only";
  }

  function leave(message) {
    st.gen++;
    if (st.abort) st.abort.abort();
    st.session = null;
    st.me = null;
    try {
      sessionStorage.removeItem("xapid-session");
    } catch (e) {
      /* nothing kept */
    }
    for (const c of CLASSES) st.stores[c].clear();
    for (const v of Object.values(views)) v.reset && v.reset();
    st.loaded = false;
    document.body.classList.remove("loaded");
    setLive(false, "logged out");
    setText($("whoami"), "");
    $("app").hidden = true;
    $("login-view").hidden = false;
    setText($("login-error"), message || "");
    $("password").value = "";
    $("password").focus();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const button = $("login-button");
    button.disabled = true;
    setText($("login-error"), "");
    try {
      const s = await rpc("session.login_with_password",
        [$("username").value, $("password").value, "1.0", "xapid-web"]);
      await enter(s);
    } catch (e) {
      const code = e.desc && e.desc[0];
      setText($("login-error"), code === "SESSION_AUTHENTICATION_FAILED"
        ? "Wrong user name or password." : `Login failed: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function onLogout() {
    const s = st.session;
    leave("");
    if (s) rpc("session.logout", [s]).catch(() => {});
  }

  // ---------------------------------------------------------------------
  // Notices (failed actions), tabs and navigation.

  function notice(text) {
    const el = $("notice");
    el.replaceChildren(h("span", {}, text),
      h("button", { type: "button", class: "close", "aria-label": "Dismiss message",
        onclick: () => { el.hidden = true; } }, "\u00d7"));
    el.hidden = false;
  }

  // Runs an action of a button: the button is busy meanwhile, and a
  // failure shows as a notice.
  async function act(button, what, fn) {
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (e) {
      notice(`${what} failed: ${e.message}`);
    } finally {
      if (button) button.disabled = false;
      // The next frame puts the button's state right.
      for (const c of CLASSES) st.structural[c] = true;
      schedule();
    }
  }

  function show(view) {
    st.view = view;
    for (const tab of document.querySelectorAll("[role=tab]")) {
      const on = tab.dataset.view === view;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !on;
    }
    markAll();
  }

  // #tasks, #jobs, #storage; #task/<ref>, #block_job/<ref>, #vdi/<ref>,
  // #vm/<ref>, #sr/<ref> (an object, shown in its view).
  function navigate() {
    if (!st.me) return;
    const [what, ref] = location.hash.slice(1).split("/");
    const view = { task: "tasks", tasks: "tasks", block_job: "jobs", jobs: "jobs" }[what]
      || (["vdi", "vm", "sr", "storage"].includes(what) ? "storage" : st.view);
    show(view);
    if (ref && views[view] && views[view].focus) {
      // Drawn first, then focused.
      requestAnimationFrame(() => requestAnimationFrame(() => views[view].focus(what, ref)));
    }
  }

  function onTabKey(ev) {
    const tabs = [...document.querySelectorAll("[role=tab]")];
    const i = tabs.indexOf(ev.target);
    if (i < 0) return;
    let j = null;
    if (ev.key === "ArrowRight") j = (i + 1) % tabs.length;
    else if (ev.key === "ArrowLeft") j = (i + tabs.length - 1) % tabs.length;
    else if (ev.key === "Home") j = 0;
    else if (ev.key === "End") j = tabs.length - 1;
    if (j === null) return;
    ev.preventDefault();
    tabs[j].focus();
    tabs[j].click();
  }

  function boot() {
    $("login").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    for (const tab of document.querySelectorAll("[role=tab]")) {
      tab.addEventListener("click", () => {
        const want = "#" + tab.dataset.view;
        if (location.hash !== want) location.hash = want;
        else show(tab.dataset.view);
      });
    }
    document.querySelector("[role=tablist]").addEventListener("keydown", onTabKey);
    window.addEventListener("hashchange", navigate);
    window.addEventListener("resize", schedule);
    for (const v of Object.values(views)) v.init && v.init();
    let saved = null;
    try {
      saved = sessionStorage.getItem("xapid-session");
    } catch (e) {
      /* none */
    }
    if (saved) {
      // A reload: the session is still good, or the login form shows.
      $("login-view").hidden = true;
      rpc("session.get_uuid", [saved, saved]).then(() => enter(saved), () => leave(""));
    } else {
      $("password").focus();
    }
  }

  document.addEventListener("DOMContentLoaded", boot);

  return {
    NULL, EPOCH, $, h, fill, setText, setAttr, bytes, parseTime, time, fullTime, span, errorText, call, st,
    views, get, can, mayModify, objectLink, schedule, markAll, notice, act,
  };
})();
