// Telling the person about mail outside the list: the unread count in the
// tab's title and favicon, and desktop notifications if they opt in.

const KEY = "tempmail.notifications";
const BASE_ICON = "favicon.svg";

/** Show `unread` in the title and the favicon (a badge drawn on a canvas). */
export function showUnread(address, unread, favicon) {
  const name = address ? `${address} — tempmail` : "tempmail";
  document.title = unread > 0 ? `(${unread}) ${name}` : name;
  if (unread <= 0) {
    favicon.href = BASE_ICON;
    return;
  }
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 64;
  const context = canvas.getContext("2d");
  if (!context) return;
  context.fillStyle = "#2563eb";
  context.beginPath();
  context.roundRect(4, 12, 56, 40, 6);
  context.fill();
  context.fillStyle = "#dc2626";
  context.beginPath();
  context.arc(44, 22, 20, 0, 2 * Math.PI);
  context.fill();
  context.fillStyle = "#fff";
  context.font = "bold 26px system-ui, sans-serif";
  context.textAlign = "center";
  context.textBaseline = "middle";
  context.fillText(unread > 99 ? "99+" : String(unread), 44, 23, 36);
  favicon.href = canvas.toDataURL("image/png");
}

/** Whether the person asked for desktop notifications and the browser allows them. */
function wanted() {
  try {
    return "Notification" in window && Notification.permission === "granted"
      && localStorage.getItem(KEY) === "on";
  } catch {
    return false;
  }
}

/** Make `button` switch desktop notifications on and off. */
export function setUpNotifications(button) {
  if (!("Notification" in window)) {
    button.hidden = true;
    return;
  }
  const show = () => {
    const on = wanted();
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Notify: on" : "Notify: off";
  };
  button.addEventListener("click", async () => {
    if (wanted()) {
      localStorage.setItem(KEY, "off");
    } else if (await Notification.requestPermission() === "granted") {
      localStorage.setItem(KEY, "on");
    }
    show();
  });
  show();
}

/** A desktop notification for new mail, when wanted and the tab is not in view. */
export function notifyArrival(summary) {
  if (!wanted() || document.visibilityState === "visible") return;
  const note = new Notification(summary.from || "New mail", {
    body: summary.subject || "(no subject)",
    tag: summary.id,
  });
  note.addEventListener("click", () => window.focus());
}
