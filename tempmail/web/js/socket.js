// The mailbox's WebSocket: sends the token as its first message, reports
// its state, and reconnects with a growing, jittered delay.

const FIRST_DELAY = 1000;
const MAX_DELAY = 30000;

/**
 * Watch one mailbox. Callbacks:
 * - onStatus(state): "connecting", "connected", "reconnecting", "offline", "locked";
 * - onConnected(): after each (re)connection: reload the list over REST;
 * - onFrame(frame): every event frame after Connected;
 * - onLocked(reason): close code 4001 (no or a revoked token).
 */
export class MailboxSocket {
  constructor(address, { token, onStatus, onConnected, onFrame, onLocked }) {
    this.address = address;
    this.token = token;
    this.handlers = { onStatus, onConnected, onFrame, onLocked };
    this.delay = FIRST_DELAY;
    this.socket = null;
    this.timer = null;
    this.stopped = false;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.status("offline");
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    };
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  status(state) {
    this.state = state;
    this.handlers.onStatus?.(state);
  }

  connect() {
    this.timer = null;
    if (this.stopped) return;
    if (!navigator.onLine) {
      this.status("offline");
      return;
    }
    this.status(this.everConnected ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/ws/${encodeURIComponent(this.address)}`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      // Browsers cannot set headers on a WebSocket, and a token in the URL
      // would reach logs: it goes as the first message.
      if (this.token) socket.send(JSON.stringify({ token: this.token }));
    });
    socket.addEventListener("message", (message) => {
      if (socket !== this.socket) return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "Connected") {
        this.delay = FIRST_DELAY;
        this.everConnected = true;
        this.status("connected");
        this.handlers.onConnected?.();
      } else {
        this.handlers.onFrame?.(frame);
      }
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket || this.stopped) return;
      this.socket = null;
      if (event.code === 4001) {
        this.status("locked");
        this.handlers.onLocked?.(event.reason);
        return;
      }
      // 4000 (fell behind: resync), 1006 (restart, network) and the rest:
      // reconnect, and the next Connected reloads the list.
      this.schedule();
    });
  }

  schedule() {
    if (this.stopped || this.timer !== null) return;
    this.status(navigator.onLine ? "reconnecting" : "offline");
    const wait = this.delay * (0.75 + Math.random() * 0.5);
    this.delay = Math.min(this.delay * 2, MAX_DELAY);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  /** Reconnect at once if the socket is down (the tab came back, the network returned). */
  reconnectNow() {
    if (this.stopped || this.socket || this.state === "locked") return;
    clearTimeout(this.timer);
    this.timer = null;
    this.delay = FIRST_DELAY;
    this.connect();
  }

  /** Close for good: no more reconnects or callbacks. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    document.removeEventListener("visibilitychange", this.onVisible);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the page");
  }
}
