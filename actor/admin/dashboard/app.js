// The dashboard of one node's admin API: it polls the JSON endpoints every REFRESH ms
// and redraws. No framework, no CDN: the file is embedded in the binary.
"use strict";

const REFRESH = 1000;
let previous = null; // the last /api/status, for rates

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fill(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows);
}

function secs(s) {
  if (s < 1) return (s * 1000).toFixed(0) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}


function renderStatus(st) {
  document.getElementById("node").textContent = (st.name || "") + " " + st.peer;
  const h = document.getElementById("health");
  if (!st.health.running) { h.textContent = "stopped"; h.className = "badge bad"; }
  else if (st.health.ready) { h.textContent = "ready"; h.className = "badge ok"; }
  else { h.textContent = "not ready: " + (st.health.not_ready || []).join("; "); h.className = "badge bad"; }
  const cards = [
    ["replicas active", st.replicas],
    ["stalled", st.stalled],
    ["pending deltas", st.pending],
    ["max lag", secs(st.max_lag_seconds)],
    ["handoffs", st.handoffs],
  ];
  if (previous) {
    const dt = (Date.parse(st.time) - Date.parse(previous.time)) / 1000;
    if (dt > 0) {
      const rate = (k) => ((st.stats[k] - previous.stats[k]) / dt).toFixed(1);
      cards.unshift(["flushes/s", rate("Flushes")], ["sent/s", rate("Sent")], ["received/s", rate("Received")], ["commits/s", rate("Commits")]);
    }
  }
  previous = st;
  const dv = st.divergences || [];
  document.getElementById("divergences-count").textContent = dv.length ? "(" + dv.length + ")" : "(none)";
  fill("divergences", dv.map((d) => el("tr", { class: "stalled" },
    el("td", {}, d.Kind + "/" + d.Key), el("td", {}, d.Peer), el("td", {}, d.ID), el("td", {}, d.Count), el("td", {}, d.At))));
  document.getElementById("rates").replaceChildren(...cards.map(([k, v]) =>
    el("div", { class: "card", "data-key": k }, el("div", { class: "v" }, v), el("div", { class: "k" }, k))));
}

function renderMembers(ms) {
  document.getElementById("members-count").textContent = ms.live + " live of " + ms.members.length + (ms.partial ? " (partial view)" : "");
  fill("members", ms.members.map((m) => {
    const state = m.live ? (m.departing ? "departing" : "live") : "gone";
    const admin = m.meta && m.meta.admin ? el("a", { href: "http://" + m.meta.admin + "/" }, m.meta.admin) : "";
    return el("tr", { class: m.live ? "live" : "gone", "data-peer": m.peer },
      el("td", {}, m.peer + (m.self ? " (this node)" : "")), el("td", {}, m.name || ""), el("td", {}, m.address || ""),
      el("td", {}, (m.kinds || []).join(", ")), el("td", { class: m.live ? "ok" : "bad" }, state), el("td", {}, secs(m.for_seconds)),
      el("td", { class: "partitions" }, m.partitions), el("td", {}, admin));
  }));
}

function renderStalls(s) {
  const n = (k, w) => k + " " + w + (k === 1 ? "" : "s");
  document.getElementById("stalls-count").textContent = n(s.peers.length, "peer") + ", " + n(s.total, "partition");
  fill("stalled-peers", s.peers.map((p) => el("tr", { class: "stalled", "data-peer": p.peer },
    el("td", {}, p.peer), el("td", { class: p.live ? "warn" : "bad" }, p.live ? "stalled (live)" : "stalled (gone)"),
    el("td", {}, p.partitions), el("td", {}, p.acks), el("td", {}, secs(p.stalled_seconds)))));
  fill("stalled-partitions", s.partitions.map((p) => el("tr", { class: "stalled" },
    el("td", {}, p.kind + "/" + p.key), el("td", {}, p.pending), el("td", {}, secs(p.stalled_seconds)),
    el("td", {}, p.owed.map((o) => o.peer + ":" + o.acks).join(", ")))));
}

function renderPartitions(p, h) {
  document.getElementById("partitions-count").textContent = p.total + (p.total > p.partitions.length ? " (first " + p.partitions.length + ")" : "");
  document.getElementById("handoffs").textContent = "handoffs in flight: " + h.in_flight + "; partitions with a pending join: " + h.total;
  fill("partitions", p.partitions.map((x) => el("tr", { class: x.pending > 0 ? "stalled" : "" },
    el("td", {}, x.kind + "/" + x.key), el("td", {}, x.replica_set.join(", ")), el("td", {}, x.participants.join(", ")),
    el("td", {}, x.joining.join(", ")), el("td", {}, x.leaving.join(", ")), el("td", {}, x.pending),
    el("td", {}, x.pending > 0 ? secs(x.lag_seconds) : ""))));
}

async function refresh() {
  try {
    const [st, ms, s, p, h] = await Promise.all([getJSON("api/status"), getJSON("api/members"),
      getJSON("api/stalls?limit=20"), getJSON("api/partitions?limit=50"), getJSON("api/handoffs?limit=1")]);
    renderStatus(st);
    renderMembers(ms);
    renderStalls(s);
    renderPartitions(p, h);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  } catch (e) {
    const h = document.getElementById("health");
    h.textContent = "unreachable: " + e.message;
    h.className = "badge bad";
  }
}

refresh();
setInterval(refresh, REFRESH);
