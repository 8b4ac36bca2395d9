import { describe, expect, it } from "vitest";
import { aligned, certificateColumns, countLabel, csvFilename, csvFilenameFor, dayStart, meter, outcomeColumns, parseDays, type Dashboard } from "./dashboard";

const dash: Dashboard = {
  from: "2026-12-01",
  to: "2026-12-03",
  days: [
    // Out of order on purpose: the columns follow the dates.
    { date: "2026-12-02", signed: 5, failed: 1, denied: 2, byCertificate: { crt_a: 3, crt_b: 2 } },
    { date: "2026-12-01", signed: 0, failed: 0, denied: 0, byCertificate: {} },
    { date: "2026-12-03", signed: 4, failed: 0, denied: 1, byCertificate: { crt_a: 1, crt_gone: 3 } },
  ],
  certificates: [
    { id: "crt_a", name: "Release" },
    { id: "crt_b", name: "Release" },
  ],
  totals: { signed: 9, failed: 1, denied: 3 },
  deniedBy: [],
  topUsers: [],
  topAgents: [],
};

describe("dashboard columns for uPlot", () => {
  it("has one x per UTC day and one series per certificate, zeros where a day has none", () => {
    const c = certificateColumns(dash);
    expect(c.dates).toEqual(["2026-12-01", "2026-12-02", "2026-12-03"]);
    expect(c.x).toEqual([1796083200, 1796169600, 1796256000]);
    expect(c.x[0]).toBe(dayStart("2026-12-01"));
    expect(c.series.map((s) => s.key)).toEqual(["crt_a", "crt_b", "crt_gone"]);
    expect(c.series.map((s) => s.values)).toEqual([
      [0, 3, 1],
      [0, 2, 0],
      [0, 0, 3],
    ]);
    // Two certificates with one name are told apart by their ids; an unlisted one by its id.
    expect(c.series.map((s) => s.label)).toEqual(["Release (crt_a)", "Release (crt_b)", "crt_gone"]);
    expect(aligned(c)).toEqual([c.x, [0, 3, 1], [0, 2, 0], [0, 0, 3]]);
  });
  it("sums each day's certificates to its signatures", () => {
    const c = certificateColumns(dash);
    const sorted = [...dash.days].sort((a, b) => a.date.localeCompare(b.date));
    sorted.forEach((d, i) => expect(c.series.reduce((t, s) => t + s.values[i], 0)).toBe(d.signed));
  });
  it("has denials and failures per day", () => {
    const o = outcomeColumns(dash);
    expect(o.series).toEqual([
      { key: "denied", label: "Denied", values: [0, 2, 1] },
      { key: "failed", label: "Failed", values: [0, 1, 0] },
    ]);
  });
});

describe("ranking labels", () => {
  it("capitalises the service's sentence, or shows the name", () => {
    expect(countLabel({ name: "no-policy-allows", label: "no policy allows it" }, true)).toBe("No policy allows it");
    expect(countLabel({ name: "cu_x", label: "build-agent" })).toBe("build-agent");
    expect(countLabel({ name: "build-agent" })).toBe("build-agent");
    expect(countLabel({ name: "cu_x", label: " " })).toBe("cu_x");
  });
  it("names a certificate without a name by its id", () => {
    expect(certificateColumns({ ...dash, certificates: [{ id: "crt_a", name: "" }] }).series[0].label).toBe("crt_a");
  });
});

describe("licence meters", () => {
  it("says used of limit, over the limit, or unlimited", () => {
    expect(meter({ used: 3, limit: 10 })).toMatchObject({ ratio: 0.3, over: false, text: "3 of 10" });
    expect(meter({ used: 12000, limit: 10000 })).toMatchObject({ ratio: 1, over: true, text: "12,000 of 10,000 (over the limit)" });
    expect(meter({ used: 7 })).toEqual({ used: 7, over: false, text: "7 (unlimited)" });
    expect(meter({ used: 0, limit: 0 }).ratio).toBe(1);
  });
});

describe("the CSV's file name", () => {
  it("names the scope and the days", () => {
    expect(csvFilename("dep_abc", dash)).toBe("signum-dashboard-dep_abc-2026-12-01-to-2026-12-03.csv");
    expect(csvFilename("../x y", { from: "2026-12-01", to: "2026-12-03" })).toBe("signum-dashboard-..-x-y-2026-12-01-to-2026-12-03.csv");
  });
  it("works out the days before the dashboard is read", () => {
    expect(csvFilenameFor("console", 7, new Date("2026-12-03T22:20:00Z"))).toBe("signum-dashboard-console-2026-11-27-to-2026-12-03.csv");
    expect(csvFilenameFor("console", 30, new Date("2026-12-03T00:00:00Z"))).toBe("signum-dashboard-console-2026-11-04-to-2026-12-03.csv");
  });
  it("reads the range from the address, 30 otherwise", () => {
    expect([parseDays("7"), parseDays("90"), parseDays("30"), parseDays(null), parseDays("365")]).toEqual([7, 90, 30, 30, 30]);
  });
});
