// Turning numbers and times into short human text.

const UNITS = ["B", "KB", "MB", "GB"];

/** A byte count as "812 B", "1.4 KB", "23 MB". */
export function formatSize(bytes) {
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

/** "just now", "5 minutes ago", "3 hours ago", then a date and time. */
export function formatRelative(iso, now = Date.now()) {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return "";
  const seconds = Math.round((now - time) / 1000);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return relative.format(-minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (hours < 24) return relative.format(-hours, "hour");
  return dateTime.format(time);
}

/** A full, local date and time for a title or the message header. */
export function formatFull(iso) {
  const time = Date.parse(iso);
  return Number.isNaN(time) ? "" : fullDate.format(time);
}
