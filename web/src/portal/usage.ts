// How the subscription panel shows a deployment's use of its plan's limits.
import { count } from "../marketplace/describe";

export interface Usage {
  // text is what the page shows: "3 of 50", or "3 (no limit)".
  text: string;
  // limit is the plan's limit, 0 when there is none (then no meter is drawn).
  limit: number;
  // value is what the meter shows: the use, at most the limit (a meter cannot go past its end).
  value: number;
  // full is true once the use has reached the limit.
  full: boolean;
}

export function usage(used: number, limit: number): Usage {
  const u = Math.max(0, used);
  if (limit <= 0) return { text: `${count(u)} (no limit)`, limit: 0, value: u, full: false };
  return { text: `${count(u)} of ${count(limit)}`, limit, value: Math.min(u, limit), full: u >= limit };
}

// nextMonth is when a month's signature cap lifts: the first day of the next calendar month,
// in UTC (the service counts signatures by UTC month).
export function nextMonth(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

// utcDay writes a date as "1 August 2026" in UTC.
export function utcDay(d: Date): string {
  return d.toLocaleDateString("en-GB", { timeZone: "UTC", day: "numeric", month: "long", year: "numeric" });
}

// known reports whether an API time is set: the service's zero time (year 1) means unknown.
export function known(t?: string): t is string {
  if (!t) return false;
  const d = new Date(t);
  return !Number.isNaN(d.getTime()) && d.getUTCFullYear() > 1970;
}
