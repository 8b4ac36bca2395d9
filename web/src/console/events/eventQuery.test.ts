import { describe, expect, it } from "vitest";
import { joinPages, lanes, noFilters, toQuery, utc } from "./eventQuery";

describe("event filters", () => {
  it("leaves out empty filters", () => {
    expect(toQuery(noFilters)).toEqual({});
  });
  it("sends local times as RFC 3339 in UTC and trims ids", () => {
    const q = toQuery({ from: "2026-11-28T12:00", to: "", userId: " cu_x ", certificateId: "crt_y", decision: "deny" });
    expect(q).toEqual({ from: new Date("2026-11-28T12:00").toISOString(), userId: "cu_x", certificateId: "crt_y", decision: "deny" });
    expect(q.from).toMatch(/Z$/);
  });
  it("passes a time it cannot read as typed, for the API to name", () => {
    expect(toQuery({ ...noFilters, to: "yesterday" })).toEqual({ to: "yesterday" });
  });
});

describe("export", () => {
  it("keeps the CSV header of the first page only", () => {
    expect(joinPages("csv", ["id,at\na,1\n", "id,at\nb,2\n", "id,at\n"])).toBe("id,at\na,1\nb,2\n");
  });
  it("joins JSON lines pages, ending each with a newline", () => {
    expect(joinPages("jsonl", ['{"id":"a"}\n', '{"id":"b"}', ""])).toBe('{"id":"a"}\n{"id":"b"}\n');
  });
});

describe("verification", () => {
  it("says per lane what is wrong", () => {
    const ls = lanes({
      intact: false,
      eventsChecked: 10,
      problems: [
        { kind: "altered", lane: 0, seq: 42, detail: "was altered" },
        { kind: "deleted", lane: 5, seq: 17, detail: "events 17 to 18 are missing" },
        { kind: "undecodable", lane: 9, seq: 0, detail: "an event does not decode" },
      ],
    });
    expect(ls.map((l) => [l.lane, l.problems.length])).toEqual([[0, 1], [1, 0], [2, 0], [3, 0], [4, 0], [5, 1], [6, 0], [7, 0], [9, 1]]);
  });
});

describe("times", () => {
  it("shows UTC to the millisecond", () => {
    expect(utc("2026-12-03T14:43:55.308576363Z")).toBe("2026-12-03 14:43:55.308");
    expect(utc("2026-12-03T14:43:55Z")).toBe("2026-12-03 14:43:55");
  });
});
