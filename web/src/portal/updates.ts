// Pure helpers of the Updates page: times in UTC as the API takes them, the maintenance window
// in words, and what a run's state means for a person.
import type { Schemas } from "../api/client";

type Window = Schemas["MaintenanceWindow"];
type Run = Schemas["UpdateRun"];

export const weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

const dayNames: Record<string, string> = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };

// windowText says a window as a person reads it: "Every day, 01:00–05:00 UTC".
export function windowText(w: Pick<Window, "days" | "start" | "durationMinutes">): string {
  const days = w.days.length === 7 ? "Every day" : w.days.map((d) => dayNames[d] ?? d).join(", ");
  const [h, m] = w.start.split(":").map(Number);
  const endMin = (h * 60 + m + w.durationMinutes) % (24 * 60);
  const end = `${String(Math.floor(endMin / 60)).padStart(2, "0")}:${String(endMin % 60).padStart(2, "0")}`;
  const overnight = h * 60 + m + w.durationMinutes > 24 * 60 ? " (next day)" : "";
  return `${days}, ${w.start}–${end}${overnight} UTC`;
}

// utcFromInput turns a datetime-local value, read as UTC, into RFC 3339 ("" when empty or
// malformed: the API then names the field).
export function utcFromInput(v: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v)) return "";
  return (v.length === 16 ? v + ":00" : v) + "Z";
}

// inputFromUTC is an RFC 3339 time as a datetime-local value in UTC.
export function inputFromUTC(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toISOString().slice(0, 16);
}

// unfinished reports whether a run still has work or a decision ahead (the page refreshes
// while it does).
export function unfinished(r: Run | null | undefined): boolean {
  return !!r && (r.state === "scheduled" || r.state === "running");
}

// stateText says what a run's state means.
export function stateText(r: Run): string {
  switch (r.state) {
    case "scheduled":
      return `Scheduled for ${r.at ? new Date(r.at).toISOString().replace(".000Z", "Z") : "the maintenance window"}.`;
    case "running":
      return "Running: the data migrations go on in the background while the deployment keeps signing.";
    case "paused":
      return "Paused: a migration failed. Nothing is lost; retry resumes it where it stopped.";
    case "done":
      return "Done.";
    case "cancelled":
      return "Cancelled before it started.";
  }
  return r.state;
}
