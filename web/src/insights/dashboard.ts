// What the dashboard pages make of a Dashboard: the columns uPlot draws (one x of UTC days,
// one y per series), the tables beside them with the same numbers, the licence meters and the
// CSV's file name. Kept free of the DOM so that it is tested without a canvas.
import type { Schemas } from "../api/client";

export type Dashboard = Schemas["Dashboard"];
export type LicenceUse = Schemas["LicenceUse"];
export type Days = 7 | 30 | 90;

export const ranges: Days[] = [7, 30, 90];

// parseDays reads a range from the page's address; anything else is the API's default, 30.
export function parseDays(v: string | null): Days {
  const n = Number(v);
  return n === 7 || n === 90 ? n : 30;
}

// dayStart is a date (YYYY-MM-DD, a UTC day) as uPlot's x: seconds since the epoch at its
// UTC midnight.
export function dayStart(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / 1000;
}

export interface Series {
  key: string;
  label: string;
  values: number[];
}

export interface Columns {
  dates: string[];
  x: number[];
  series: Series[];
}

// certificateColumns is signatures per day, one series per certificate in the order of
// d.certificates (a certificate id a day names but the list does not is added under its id,
// so the table and the chart always sum to the day's signatures by certificate).
export function certificateColumns(d: Dashboard): Columns {
  const certs = [...d.certificates];
  for (const day of d.days) {
    for (const id of Object.keys(day.byCertificate ?? {})) {
      if (!certs.some((c) => c.id === id)) certs.push({ id, name: id });
    }
  }
  const days = [...d.days].sort((a, b) => a.date.localeCompare(b.date));
  return {
    dates: days.map((day) => day.date),
    x: days.map((day) => dayStart(day.date)),
    series: certs.map((c) => ({ key: c.id, label: uniqueLabel(c, certs), values: days.map((day) => day.byCertificate?.[c.id] ?? 0) })),
  };
}

// uniqueLabel is a certificate's name, with its id when another certificate has the same name.
// A certificate without a name (deleted since it signed) is its id.
function uniqueLabel(c: { id: string; name: string }, all: { id: string; name: string }[]) {
  if (!c.name) return c.id;
  return all.some((o) => o.id !== c.id && o.name === c.name) ? `${c.name} (${c.id})` : c.name;
}

// countLabel is what a ranking shows for an entry: its label, or its name. A sentence (the
// service's denial reasons are in lower case) starts with a capital; a user's name stays as
// it is written.
export function countLabel(c: { name: string; label?: string }, sentence = false): string {
  const l = c.label?.trim();
  if (!l) return c.name;
  return sentence ? l.charAt(0).toUpperCase() + l.slice(1) : l;
}

// outcomeColumns is denials and failures per day.
export function outcomeColumns(d: Dashboard): Columns {
  const days = [...d.days].sort((a, b) => a.date.localeCompare(b.date));
  return {
    dates: days.map((day) => day.date),
    x: days.map((day) => dayStart(day.date)),
    series: [
      { key: "denied", label: "Denied", values: days.map((day) => day.denied) },
      { key: "failed", label: "Failed", values: days.map((day) => day.failed) },
    ],
  };
}

// aligned is the columns as uPlot's AlignedData: x first, then each series.
export function aligned(c: Columns): number[][] {
  return [c.x, ...c.series.map((s) => s.values)];
}

// total sums a series.
export function total(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

export interface Meter {
  used: number;
  limit?: number;
  // ratio is used / limit, at most 1 (for the meter); absent when unlimited.
  ratio?: number;
  over: boolean;
  text: string;
}

// meter says a licence use against its limit: "3 of 10", "12 of 10 (over the limit)", or
// "3 (unlimited)" when the plan sets no limit.
export function meter(u: LicenceUse): Meter {
  const limit = u.limit ?? undefined;
  if (limit === undefined) return { used: u.used, over: false, text: `${u.used.toLocaleString("en")} (unlimited)` };
  const over = u.used > limit;
  return {
    used: u.used,
    limit,
    ratio: limit > 0 ? Math.min(1, u.used / limit) : 1,
    over,
    text: `${u.used.toLocaleString("en")} of ${limit.toLocaleString("en")}${over ? " (over the limit)" : ""}`,
  };
}

// csvFilename is the downloaded CSV's name: what it covers and the days, e.g.
// signum-dashboard-dep_abc-2026-11-04-to-2026-12-03.csv. scope is the deployment's id, or
// "console"; characters that do not belong in a file name become "-".
export function csvFilename(scope: string, d: Pick<Dashboard, "from" | "to">): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, "-");
  return `signum-dashboard-${safe(scope)}-${safe(d.from)}-to-${safe(d.to)}.csv`;
}

// csvFilenameFor is the same before the JSON has been read (the range ends today, UTC).
export function csvFilenameFor(scope: string, days: Days, now = new Date()): string {
  const to = now.toISOString().slice(0, 10);
  const from = new Date(Date.parse(`${to}T00:00:00Z`) - (days - 1) * 86400000).toISOString().slice(0, 10);
  return csvFilename(scope, { from, to });
}

// dayLabel writes a UTC day as the tables show it: "Thu 3 Dec".
export function dayLabel(date: string): string {
  return new Date(`${date}T00:00:00Z`).toLocaleDateString("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short" });
}
