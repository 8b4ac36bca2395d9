import { describe, expect, it } from "vitest";
import { exportName, filtered, fromSearch, noLogFilters, sectionLabel, toForm, toQuery, toSearch } from "./logQuery";

describe("system log filters", () => {
  it("leaves out empty filters", () => {
    expect(toQuery(noLogFilters)).toEqual({});
    expect(toSearch({}).toString()).toBe("");
  });
  it("sends local times as RFC 3339 in UTC and trims text", () => {
    const q = toQuery({ from: "2026-11-28T12:00:05", to: "", actor: " cu_x ", action: "login.", section: "login" });
    expect(q).toEqual({ from: new Date("2026-11-28T12:00:05").toISOString(), actor: "cu_x", action: "login.", section: "login" });
    expect(q.from).toMatch(/Z$/);
  });
  it("passes a time it cannot read as typed, for the API to name", () => {
    expect(toQuery({ ...noLogFilters, to: "yesterday" })).toEqual({ to: "yesterday" });
  });
  it("keeps the query in the address and reads it back", () => {
    const q = { from: "2026-11-28T11:00:05.000Z", section: "users" as const, actor: "unknown:" };
    const p = toSearch(q);
    expect(p.toString()).toBe("from=2026-11-28T11%3A00%3A05.000Z&actor=unknown%3A&section=users");
    expect(fromSearch(p)).toEqual(q);
    expect(fromSearch(new URLSearchParams("section=&other=1"))).toEqual({});
  });
  it("shows a query's times in the form in local time, and back", () => {
    const q = { from: "2026-11-28T11:00:05.000Z" };
    const f = toForm(q);
    expect(f.from).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(toQuery(f)).toEqual(q);
    expect(toForm({ to: "garbage" }).to).toBe("garbage");
  });
  it("knows when a page may be short", () => {
    expect(filtered({ from: "x" })).toBe(false);
    expect(filtered({ section: "login" })).toBe(true);
  });
  it("names sections", () => {
    expect(sectionLabel("groups")).toBe("Certificate groups");
    expect(sectionLabel("unheard")).toBe("unheard");
  });
});

describe("export file name", () => {
  it("takes the API's name", () => {
    expect(exportName('attachment; filename="system-log-dep_x-20261128T120000Z.csv"', "csv")).toBe("system-log-dep_x-20261128T120000Z.csv");
  });
  it("falls back without one, or with a path in it", () => {
    expect(exportName(null, "jsonl")).toBe("system-log.jsonl");
    expect(exportName('attachment; filename="../x.csv"', "csv")).toBe("system-log.csv");
  });
});
