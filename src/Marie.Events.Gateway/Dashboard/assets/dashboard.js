// The gateway's live dashboard. Every figure comes from the admin API (/internal/stats, /internal/subscriptions,
// /internal/connections) called with the admin key the user typed, kept in this tab's sessionStorage only.
// Text is always set with textContent: topic names, key names and peers are data, never markup.
"use strict";

(function () {
  const KEY_STORAGE = "marie-events-admin-key";
  // One poll a second: the brief's "at least every 2 s" with room for a slow answer.
  const POLL_MS = 1000;
  // Five minutes of one-second samples for the chart.
  const CHART_POINTS = 300;

  const $ = (id) => document.getElementById(id);
  const history = [];
  let previous = null; // { at, published, delivered, heads: Map }
  let timer = null;
  let generation = 0;

  // ------------------------------------------------------------------ key handling

  function storedKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  function showLogin(message) {
    generation++;
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    $("board").classList.add("hidden");
    $("logout").classList.add("hidden");
    $("login").classList.remove("hidden");
    const error = $("login-error");
    if (message) {
      error.textContent = message;
      error.classList.remove("hidden");
    } else {
      error.textContent = "";
      error.classList.add("hidden");
    }
    setStatus("", false);
    $("admin-key").focus();
  }

  function showBoard() {
    $("login").classList.add("hidden");
    $("login-error").classList.add("hidden");
    $("board").classList.remove("hidden");
    $("logout").classList.remove("hidden");
  }

  function refusalMessage(status) {
    if (status === 401) {
      return "401 Unauthorized: the gateway does not know this key, or it is disabled. Check the key and try again.";
    }
    if (status === 403) {
      return "403 Forbidden: this key is valid but has no admin role. The dashboard needs a key with role admin.";
    }
    return "The gateway answered " + status + ".";
  }

  class Refused extends Error {
    constructor(status) {
      super(refusalMessage(status));
      this.status = status;
    }
  }

  async function getJson(path, key) {
    const response = await fetch(path, {
      headers: { "Authorization": "Bearer " + key, "Accept": "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401 || response.status === 403) {
      throw new Refused(response.status);
    }
    if (!response.ok) {
      throw new Error(path + " answered " + response.status);
    }
    return response.json();
  }

  // ------------------------------------------------------------------ polling

  async function poll(key, mine) {
    try {
      const [stats, subscriptions, connections] = await Promise.all([
        getJson("/internal/stats", key),
        getJson("/internal/subscriptions", key),
        getJson("/internal/connections", key),
      ]);
      if (mine !== generation) {
        return;
      }
      showBoard();
      render(stats, subscriptions.subscriptions || [], connections.connections || []);
      setStatus("updated " + new Date().toLocaleTimeString(), false);
    } catch (error) {
      if (mine !== generation) {
        return;
      }
      if (error instanceof Refused) {
        sessionStorage.removeItem(KEY_STORAGE);
        showLogin(error.message);
        return;
      }
      setStatus("gateway unreachable (" + error.message + "); retrying", true);
    }
    if (mine === generation) {
      timer = setTimeout(() => poll(key, mine), POLL_MS);
    }
  }

  function start(key) {
    generation++;
    previous = null;
    history.length = 0;
    setStatus("loading", false);
    poll(key, generation);
  }

  function setStatus(text, bad) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("bad", bad);
  }

  // ------------------------------------------------------------------ rendering

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) {
      td.className = className;
    }
    row.appendChild(td);
    return td;
  }

  function emptyRow(body, columns, text) {
    const row = document.createElement("tr");
    const td = cell(row, text, "empty");
    td.colSpan = columns;
    body.appendChild(row);
  }

  function number(value) {
    return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US");
  }

  function rate(value) {
    return value === null ? "–" : value.toFixed(1);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) {
      return "–";
    }
    if (seconds < 1) {
      return Math.round(seconds * 1000) + " ms";
    }
    if (seconds < 120) {
      return seconds.toFixed(1) + " s";
    }
    if (seconds < 7200) {
      return Math.floor(seconds / 60) + " min " + Math.floor(seconds % 60) + " s";
    }
    return (seconds / 3600).toFixed(1) + " h";
  }

  function render(stats, subscriptions, connections) {
    const now = performance.now();
    const heads = new Map(Object.entries(stats.topic_stats || {}).map(([t, s]) => [t, s.head]));
    let publishedRate = null;
    let deliveredRate = null;
    const topicRates = new Map();
    if (previous !== null) {
      const seconds = (now - previous.at) / 1000;
      if (seconds > 0) {
        publishedRate = Math.max(0, (stats.events_published - previous.published) / seconds);
        deliveredRate = Math.max(0, (stats.events_delivered - previous.delivered) / seconds);
        for (const [topic, head] of heads) {
          const before = previous.heads.has(topic) ? previous.heads.get(topic) : head;
          topicRates.set(topic, Math.max(0, (head - before) / seconds));
        }
      }
    }
    previous = { at: now, published: stats.events_published, delivered: stats.events_delivered, heads };
    if (publishedRate !== null) {
      history.push({ published: publishedRate, delivered: deliveredRate });
      if (history.length > CHART_POINTS) {
        history.shift();
      }
    }

    const gateway = [stats.gateway, stats.backend ? "backend " + stats.backend : null].filter(Boolean);
    $("gateway-name").textContent = gateway.join(" · ");
    renderSummary(stats, publishedRate, deliveredRate);
    renderTopics(stats, topicRates);
    renderSubscriptions(subscriptions);
    renderConnections(connections);
    renderToast(stats.toast);
    drawChart();
  }

  function renderSummary(stats, publishedRate, deliveredRate) {
    const dead = stats.dead_letters;
    const figures = [
      ["connections", number(stats.connections), "connections"],
      ["subscriptions", number(stats.subscriptions), "subscriptions"],
      ["topics", number(stats.topics), "topics"],
      ["in flight", number(stats.in_flight_events), "in-flight"],
      ["published/s", rate(publishedRate), "published-rate"],
      ["delivered/s", rate(deliveredRate), "delivered-rate"],
      ["published", number(stats.events_published), "published"],
      ["delivered", number(stats.events_delivered), "delivered"],
      ["acked", number(stats.events_acked), "acked"],
      ["redelivered", number(stats.events_redelivered), "redelivered"],
      ["dropped", number(stats.events_dropped), "dropped", stats.events_dropped > 0],
      ["lost", number(stats.events_lost), "lost", stats.events_lost > 0],
      ["backpressure", number(stats.backpressure_signals), "backpressure"],
      ["dead letters", dead ? number(dead.depth) : "–", "dead-letters", dead && dead.depth > 0],
    ];
    const summary = $("summary");
    summary.replaceChildren();
    for (const [label, value, name, warn] of figures) {
      const box = document.createElement("div");
      box.className = warn ? "figure warn" : "figure";
      box.dataset.figure = name;
      const l = document.createElement("div");
      l.className = "label";
      l.textContent = label;
      const v = document.createElement("div");
      v.className = "value";
      v.textContent = value;
      box.append(l, v);
      summary.appendChild(box);
    }
  }

  function renderTopics(stats, topicRates) {
    const body = $("topics-body");
    body.replaceChildren();
    const topics = Object.keys(stats.topic_stats || {}).sort();
    $("topics-count").textContent = "(" + topics.length + ")";
    if (topics.length === 0) {
      emptyRow(body, 4, "no topic yet");
      return;
    }
    for (const topic of topics) {
      const figures = stats.topic_stats[topic];
      const row = document.createElement("tr");
      row.dataset.topic = topic;
      cell(row, topic, "topic");
      cell(row, number(figures.head), "num head");
      cell(row, number(figures.buffered), "num buffered");
      cell(row, rate(topicRates.has(topic) ? topicRates.get(topic) : null), "num rate");
      body.appendChild(row);
    }
  }

  function renderSubscriptions(subscriptions) {
    const body = $("subscriptions-body");
    body.replaceChildren();
    $("subscriptions-count").textContent = "(" + subscriptions.length + ")";
    if (subscriptions.length === 0) {
      emptyRow(body, 7, "no subscription open");
      return;
    }
    for (const s of subscriptions) {
      const row = document.createElement("tr");
      row.dataset.subscription = s.id;
      row.dataset.connection = s.connection_id;
      cell(row, s.id, "id");
      cell(row, s.key_name, "key");
      cell(row, (s.requested_topics || []).join(", "), "topics");
      cell(row, number(s.in_flight), "num in-flight");
      cell(row, number(s.lag), "num lag");
      // An event unacknowledged for more than 30 s is worth a look (the default ack timeout is shorter).
      const old = s.oldest_unacked_age_s !== null && s.oldest_unacked_age_s > 30;
      cell(row, duration(s.oldest_unacked_age_s), old ? "num age warn" : "num age");
      cell(row, number(s.redeliveries), "num redeliveries");
      body.appendChild(row);
    }
  }

  function renderConnections(connections) {
    const body = $("connections-body");
    body.replaceChildren();
    $("connections-count").textContent = "(" + connections.length + ")";
    if (connections.length === 0) {
      emptyRow(body, 8, "no stream open");
      return;
    }
    for (const c of connections) {
      const row = document.createElement("tr");
      row.dataset.connectionId = c.id;
      const id = cell(row, c.id.slice(0, 12), "id");
      id.title = c.id;
      cell(row, c.kind, "kind");
      cell(row, c.key_name, "key");
      cell(row, c.peer || "–", "peer");
      cell(row, duration(c.open_for_s), "num open-for");
      cell(row, number(c.subscriptions), "num subscriptions");
      cell(row, number(c.in_flight), "num in-flight");
      cell(row, number(c.queued_replies), "num queued");
      body.appendChild(row);
    }
  }

  function renderToast(toast) {
    const body = $("toast-body");
    body.replaceChildren();
    const rows = [];
    if (!toast) {
      rows.push(["not reported", ""]);
    } else {
      rows.push(["dispatched", number(toast.events_dispatched)]);
      rows.push(["unhandled", number(toast.events_unhandled)]);
      rows.push(["handler failures", number(toast.handler_failures)]);
      const g = toast.grpc;
      rows.push(["gRPC handler", g ? "" : "disabled", true]);
      if (g) {
        rows.push(["queue", number(g.queue_depth) + " / " + number(g.queue_maxsize)]);
        rows.push(["lanes (topics queued)", number(g.topics)]);
        rows.push(["accepted", number(g.events_accepted)]);
        rows.push(["filed with the broker", number(g.events_published)]);
        rows.push(["dropped (queue full)", number(g.events_dropped)]);
        rows.push(["enqueue timeouts", number(g.enqueue_timeouts)]);
        rows.push(["retries", number(g.publish_retries)]);
        rows.push(["given up", number(g.events_given_up)]);
      }
      const n = toast.native;
      rows.push(["native handler", n ? "" : "disabled", true]);
      if (n) {
        rows.push(["queue", number(n.queue_depth) + " / " + number(n.queue_maxsize)]);
        rows.push(["written", number(n.events_written)]);
        rows.push(["dropped", number(n.events_dropped)]);
        rows.push(["write failures", number(n.write_failures)]);
      }
    }
    for (const [label, value, group] of rows) {
      const row = document.createElement("tr");
      if (group) {
        row.className = "group";
      }
      cell(row, label);
      cell(row, value);
      body.appendChild(row);
    }
  }

  // ------------------------------------------------------------------ chart

  function drawChart() {
    const canvas = $("rate-chart");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) {
      return;
    }
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const style = getComputedStyle(document.documentElement);
    // Room for the y-axis labels on the left and the time labels below.
    const left = 48;
    const bottom = 18;
    const top = 6;
    const plotWidth = width - left - 6;
    const plotHeight = height - top - bottom;
    const max = niceMax(Math.max(1, ...history.map((p) => Math.max(p.published, p.delivered))));

    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = style.getPropertyValue("--muted").trim();
    ctx.strokeStyle = style.getPropertyValue("--line").trim();
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    // Four horizontal grid lines: 0, 1/3, 2/3 and the top of the scale.
    for (let i = 0; i <= 3; i++) {
      const y = top + plotHeight - (plotHeight * i) / 3;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y) + 0.5);
      ctx.lineTo(left + plotWidth, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(formatAxis((max * i) / 3), left - 6, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    // Time labels each minute, the right edge being now.
    const step = plotWidth / (CHART_POINTS - 1);
    for (let minutes = 0; minutes <= CHART_POINTS / 60; minutes++) {
      const x = left + plotWidth - minutes * 60 * step;
      // The outermost labels are aligned inwards so they are not cut at the canvas's edges.
      ctx.textAlign = minutes === 0 ? "right" : minutes === CHART_POINTS / 60 ? "left" : "center";
      ctx.fillText(minutes === 0 ? "now" : "-" + minutes + " min", x, top + plotHeight + 4);
    }

    const series = [
      ["published", style.getPropertyValue("--published").trim()],
      ["delivered", style.getPropertyValue("--delivered").trim()],
    ];
    for (const [name, color] of series) {
      if (history.length < 2) {
        break;
      }
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      history.forEach((point, i) => {
        const x = left + plotWidth - (history.length - 1 - i) * step;
        const y = top + plotHeight - (point[name] / max) * plotHeight;
        if (i === 0) {
          ctx.moveTo(x, y);
        } else {
          ctx.lineTo(x, y);
        }
      });
      ctx.stroke();
    }
  }

  // The scale's top: 1, 2 or 5 times a power of ten, at or above the largest value.
  function niceMax(value) {
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const m of [1, 2, 5, 10]) {
      if (value <= m * power) {
        return m * power;
      }
    }
    return 10 * power;
  }

  function formatAxis(value) {
    if (value >= 1e6) {
      return (value / 1e6).toFixed(1) + "M";
    }
    if (value >= 1e3) {
      return (value / 1e3).toFixed(1) + "k";
    }
    return value % 1 === 0 ? String(value) : value.toFixed(1);
  }

  // ------------------------------------------------------------------ wiring

  async function login(event) {
    event.preventDefault();
    const key = $("admin-key").value.trim();
    if (!key) {
      showLogin("Enter an admin key.");
      return;
    }
    $("login-submit").disabled = true;
    try {
      await getJson("/internal/stats", key);
      sessionStorage.setItem(KEY_STORAGE, key);
      $("admin-key").value = "";
      start(key);
    } catch (error) {
      showLogin(error instanceof Refused ? error.message : "The gateway did not answer: " + error.message);
    } finally {
      $("login-submit").disabled = false;
    }
  }

  function logout() {
    sessionStorage.removeItem(KEY_STORAGE);
    showLogin(null);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    window.addEventListener("resize", drawChart);
    const key = storedKey();
    if (key) {
      $("login").classList.add("hidden");
      start(key);
    } else {
      showLogin(null);
    }
  });
})();
