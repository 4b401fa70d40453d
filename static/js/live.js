// One WebSocket per page, with its state shown, reconnection with backoff and catch-up.
//
//   const live = connectLive({path: "/ws/events/", params: {types: "fill"}, lastId: 123,
//                             onEvents(events) {...}, handlers: {tick(frame) {...}}});
//
// Event frames ({"type": "events", "events": [...]}) are delivered once each, oldest first: every
// event carries its log position `id`, repeats are dropped by id, and `lastId` follows the highest
// one seen. A (re)connection subscribes with `after=<lastId>`; the server replays up to 1,000
// missed events; when it says the replay was truncated the rest comes from
// GET /api/v1/events?after=<lastId> (cursor pages). Other frame types go to `handlers[type]`.
// Close 4401 (session expired) stops and shows the "log in again" banner; 4403 stops too.
//
// Every socket also carries the top bar: a {"type": "header", mode, kill_switch, trading, source}
// frame on connect and after every change (events.realtime.header_state); showHeader draws it.
// Pages with no live data of their own get a header-only socket from ensureLive() (base.html).

const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_FORBIDDEN = 4403;
const SEEN_LIMIT = 5000;

export class LiveConnection {
  constructor({ path, params = {}, lastId = 0, onEvents = () => {}, handlers = {}, restParams = null,
    minDelay = 500, maxDelay = 15000, statusEl = document.getElementById("conn") }) {
    this.path = path;
    this.params = params;
    this.lastId = Number(lastId) || 0;
    this.onEvents = onEvents;
    this.handlers = handlers;
    this.restParams = restParams ?? params;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.statusEl = statusEl;
    this.seen = new Set();
    this.attempt = 0;
    this.stopped = false;
    this.socket = null;
    this.timer = null;
    this.state = "idle";
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("pagehide", () => this.stop());
    // Back/forward cache: a restored page reconnects and catches up from its last event.
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) {
        this.stopped = false;
        this.reconnectNow();
      }
    });
  }

  url() {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(this.params)) if (value) query.set(key, value);
    query.set("after", String(this.lastId));
    query.set("header", "1");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}${this.path}?${query}`;
  }

  setState(state, text) {
    this.state = state;
    if (!this.statusEl) return;
    this.statusEl.className = `badge conn-${state}`;
    this.statusEl.textContent = text;
  }

  start() {
    if (this.stopped) return this;
    clearTimeout(this.timer);
    this.setState("connecting", this.attempt ? `Reconnecting… (attempt ${this.attempt + 1})` : "Connecting…");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onmessage = (message) => this.receive(JSON.parse(message.data));
    socket.onclose = (event) => this.closed(socket, event);
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    this.setState("idle", "Not live");
  }

  reconnectNow() {
    if (this.stopped || this.state === "live" || this.state === "connecting") return;
    this.attempt = 0;
    this.start();
  }

  closed(socket, event) {
    if (socket !== this.socket || this.stopped) return;
    if (event.code === CLOSE_UNAUTHENTICATED) {
      this.stopped = true;
      this.setState("expired", "Session expired");
      const banner = document.getElementById("session-expired");
      if (banner) banner.hidden = false;
      return;
    }
    if (event.code === CLOSE_FORBIDDEN) {
      this.stopped = true;
      this.setState("down", "No access to live updates");
      return;
    }
    const delay = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.setState("down", `Disconnected · retrying in ${Math.ceil(delay / 1000)} s`);
    this.timer = setTimeout(() => this.start(), delay);
  }

  receive(frame) {
    if (frame.type === "subscribed") {
      this.attempt = 0;
      this.setState("live", "Live");
      if (frame.replay_truncated) this.catchUp();
      if (this.handlers.subscribed) this.handlers.subscribed(frame);
    } else if (frame.type === "events") {
      this.deliver(frame.events);
    } else if (frame.type === "header") {
      showHeader(frame);
    } else if (frame.type === "error") {
      if (frame.code === undefined) console.warn("subscription refused", frame.errors || frame.detail);
    } else if (this.handlers[frame.type]) {
      this.handlers[frame.type](frame);
    }
  }

  deliver(events) {
    const fresh = events.filter((e) => !this.seen.has(e.id)).sort((a, b) => a.id - b.id);
    if (!fresh.length) return;
    for (const e of fresh) {
      this.seen.add(e.id);
      if (e.id > this.lastId) this.lastId = e.id;
    }
    if (this.seen.size > SEEN_LIMIT) {
      const keep = [...this.seen].sort((a, b) => b - a).slice(0, SEEN_LIMIT / 2);
      this.seen = new Set(keep);
    }
    this.onEvents(fresh);
  }

  // Everything after lastId through the REST API (newest first, cursor pages), then delivered
  // oldest first. Used when the socket's replay was cut at its limit.
  async catchUp() {
    const query = new URLSearchParams({ after: String(this.lastId), limit: "1000" });
    for (const [key, value] of Object.entries(this.restParams)) if (value) query.set(key, value);
    let next = `/api/v1/events?${query}`;
    const collected = [];
    while (next) {
      const response = await fetch(next, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 401 || response.status === 403) {
        this.closed(this.socket, { code: CLOSE_UNAUTHENTICATED });
        return;
      }
      if (!response.ok) return;
      const page = await response.json();
      collected.push(...page.results);
      next = page.next;
    }
    this.deliver(collected);
  }
}

// The top bar: one function for every page, fed by the header frames of the page's socket.
export function showHeader(state) {
  const source = state.source ? `Source: ${state.source}` : "";
  const mode = document.getElementById("mode");
  if (mode && state.mode) {
    mode.className = `badge mode-${state.mode}`;
    mode.querySelector("strong").textContent = String(state.mode).toUpperCase();
    if (source) mode.title = source;
  }
  const kill = document.getElementById("kill-switch");
  if (kill && state.kill_switch !== undefined) {
    kill.className = `badge kill-${state.kill_switch ? "on" : "off"}`;
    kill.querySelector("strong").textContent = state.kill_switch ? "ENGAGED" : "off";
    if (source) kill.title = source;
  }
  const trading = document.getElementById("trading");
  if (trading && state.trading) {
    trading.className = `badge trading-${state.trading}`;
    trading.querySelector("strong").textContent = state.trading === "running" ? "running" : state.trading.toUpperCase();
  }
}

let headerOnly = null;

export function connectLive(options) {
  if (headerOnly) {
    headerOnly.stop();
    headerOnly = null;
  }
  const live = new LiveConnection(options).start();
  window.tradingopsLive = live; // for tests and the browser benchmark
  return live;
}

// base.html calls this after the page's own script: a page that opened no socket gets one that
// carries only the top bar (and shows its connection state).
export function ensureLive() {
  if (window.tradingopsLive) return window.tradingopsLive;
  headerOnly = new LiveConnection({ path: "/ws/header/" }).start();
  window.tradingopsLive = headerOnly;
  return headerOnly;
}

// Data attributes the server puts on <main>: data-last-id, data-ws-path, data-ws-*.
export function pageConfig() {
  const main = document.getElementById("main");
  return main ? { ...main.dataset } : {};
}
