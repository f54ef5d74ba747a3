// The REST client: one place that knows the routes, sends the mailbox
// token as a Bearer header and turns error answers into ApiError.

/** An error answer from the API, with its status and message. */
export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    /** Seconds to wait, from Retry-After on a 429, else null. */
    this.retryAfter = retryAfter;
  }
}

const enc = encodeURIComponent;

/**
 * A client for one page. `tokenFor(address)` gives the token to send for
 * a mailbox (or null); requests by id send the current mailbox's token.
 */
export class Api {
  constructor(tokenFor) {
    this.tokenFor = tokenFor;
    /** The mailbox the page shows; its token goes with requests by id. */
    this.mailbox = null;
  }

  async request(method, path, { body, address = this.mailbox, as = "json" } = {}) {
    const headers = {};
    const token = address ? this.tokenFor(address) : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      throw new ApiError(0, `the server cannot be reached (${error.message})`);
    }
    if (!response.ok) throw await errorOf(response);
    if (as === "text") return response.text();
    if (as === "blob") return response.blob();
    return response.json();
  }

  status(address) {
    return this.request("GET", `/api/mailbox/${enc(address)}/status`, { address: null });
  }
  list(address, { limit = 100, before = null } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before) query.set("before", before);
    return this.request("GET", `/api/emails/${enc(address)}?${query}`, { address });
  }
  empty(address) {
    return this.request("DELETE", `/api/emails/${enc(address)}`, { address });
  }
  message(id) {
    return this.request("GET", `/api/email/${enc(id)}`);
  }
  markSeen(id, seen) {
    return this.request("PATCH", `/api/email/${enc(id)}`, { body: { seen } });
  }
  remove(id) {
    return this.request("DELETE", `/api/email/${enc(id)}`);
  }
  raw(id) {
    return this.request("GET", `/api/email/${enc(id)}/raw`, { as: "text" });
  }
  /** A same-origin URL from the API (an attachment's `url`), as a Blob. */
  download(url) {
    if (!url.startsWith("/api/")) throw new ApiError(0, "not an API URL");
    return this.request("GET", url, { as: "blob" });
  }
  /** A short-lived ticket that lets the sandboxed frame load one message's HTML. */
  viewTicket(id) {
    return this.request("POST", `/api/email/${enc(id)}/view-ticket`);
  }

  claim(address, password) {
    return this.request("POST", `/api/mailbox/${enc(address)}/claim`, { address: null, body: { password } });
  }
  login(address, password) {
    return this.request("POST", `/api/mailbox/${enc(address)}/login`, { address: null, body: { password } });
  }
  changePassword(address, password, newPassword) {
    return this.request("POST", `/api/mailbox/${enc(address)}/password`, {
      address: null,
      body: { password, new_password: newPassword },
    });
  }
  release(address, password) {
    return this.request("POST", `/api/mailbox/${enc(address)}/release`, { address: null, body: { password } });
  }

  webhooks(address) {
    return this.request("GET", `/api/webhooks/${enc(address)}`, { address });
  }
  createWebhook(address, url, events) {
    return this.request("POST", "/api/webhooks", {
      address,
      body: { mailbox_address: address, webhook_url: url, events },
    });
  }
  updateWebhook(id, changes) {
    return this.request("PUT", `/api/webhook/${enc(id)}`, { body: changes });
  }
  deleteWebhook(id) {
    return this.request("DELETE", `/api/webhook/${enc(id)}`);
  }
  testWebhook(id) {
    return this.request("POST", `/api/webhook/${enc(id)}/test`);
  }
  deliveries(id) {
    return this.request("GET", `/api/webhook/${enc(id)}/deliveries?limit=50`);
  }
}

async function errorOf(response) {
  let message = `HTTP ${response.status}`;
  const type = response.headers.get("Content-Type") || "";
  try {
    if (type.includes("application/json")) {
      const body = await response.json();
      if (body && typeof body.error === "string") message = body.error;
    } else {
      const text = (await response.text()).trim();
      if (text && text.length < 300 && !type.includes("html")) message = text;
    }
  } catch {
    // Keep the status line as the message.
  }
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new ApiError(response.status, message, Number.isNaN(retry) ? null : retry);
}

/** The text to show a person for a failed request. */
export function describeError(error) {
  if (error instanceof ApiError && error.status === 429) {
    const wait = error.retryAfter ? ` Try again in ${formatWait(error.retryAfter)}.` : " Try again later.";
    return `Too many attempts.${wait}`;
  }
  return error && error.message ? error.message : String(error);
}

function formatWait(seconds) {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
