import { describe, expect, it } from "vitest";
import { appLink, consolePage, groupComponents, latencyText, sortNotices, statusText, when, worst, type Component, type Notice } from "./health";

const c = (id: string, kind: string, status: Component["status"], title = id): Component => ({ id, kind, status, title, reason: "r" });

describe("grouping health components", () => {
  it("orders kinds as the page reads them, worst first inside each, unknown kinds last", () => {
    const groups = groupComponents([
      c("key:b", "key", "ok", "Key B"),
      c("subscription", "subscription", "ok"),
      c("kms", "kms", "warning"),
      c("key:a", "key", "critical", "Key A"),
      c("key:c", "key", "unknown", "Key C"),
      c("quantum", "quantum-flux", "warning"),
      c("table", "table", "ok"),
      c("key:d", "key", "critical", "Another key"),
    ]);
    expect(groups.map((g) => g.kind)).toEqual(["table", "kms", "key", "subscription", "quantum-flux"]);
    expect(groups[2].components.map((x) => x.id)).toEqual(["key:d", "key:a", "key:c", "key:b"]);
    expect(groups[2].status).toBe("critical");
    expect(groups[0].status).toBe("ok");
    expect(groups[4].label).toBe("Quantum-flux");
  });
  it("takes the worst status, unknown below warning", () => {
    expect(worst([])).toBe("ok");
    expect(worst(["ok", "unknown"])).toBe("unknown");
    expect(worst(["unknown", "warning", "ok"])).toBe("warning");
    expect(worst(["warning", "critical"])).toBe("critical");
  });
  it("says every status in words", () => {
    expect(["ok", "warning", "critical", "unknown"].map((s) => statusText(s as Component["status"]))).toEqual(["OK", "Act soon", "Needs action now", "Unknown"]);
  });
  it("writes latency readably, and nothing without one", () => {
    expect(latencyText(undefined)).toBeNull();
    expect(latencyText(3.14159)).toBe("3.1 ms");
    expect(latencyText(123.6)).toBe("124 ms");
  });
});

describe("links the API gives", () => {
  it("routes app paths, links https, refuses the rest", () => {
    expect(appLink("/portal/deployments/dep_x/settings")).toEqual({ kind: "app", to: "/portal/deployments/dep_x/settings" });
    expect(appLink("/app/console/events")).toEqual({ kind: "app", to: "/console/events" });
    expect(appLink("https://example.com/x")).toEqual({ kind: "external", href: "https://example.com/x" });
    expect(appLink("//evil.example/x")).toBeNull();
    expect(appLink("javascript:alert(1)")).toBeNull();
    expect(appLink(undefined)).toBeNull();
  });
  it("names console pages for the portal", () => {
    expect(consolePage("/console/certificates/crt_abc")).toBe("Certificates › the certificate");
    expect(consolePage("/console/certificates")).toBe("Certificates");
    expect(consolePage("/console/somewhere-new")).toBe("/console/somewhere-new");
  });
});

describe("notices", () => {
  it("come most severe first, oldest first within a severity", () => {
    const n = (id: string, severity: Notice["severity"], since: string): Notice => ({ id, severity, since, title: id, detail: "" });
    const sorted = sortNotices([n("a", "info", "2026-12-01T00:00:00Z"), n("b", "warning", "2026-12-02T00:00:00Z"), n("c", "critical", "2026-12-03T00:00:00Z"), n("d", "warning", "2026-11-30T00:00:00Z")]);
    expect(sorted.map((x) => x.id)).toEqual(["c", "d", "b", "a"]);
  });
});

describe("times", () => {
  it("shows none for Go's zero time or a non-date", () => {
    expect(when("0001-01-01T00:00:00Z")).toBeNull();
    expect(when("soon")).toBeNull();
    expect(when(undefined)).toBeNull();
    expect(when("2026-12-03T22:00:00Z")?.toISOString()).toBe("2026-12-03T22:00:00.000Z");
  });
});
