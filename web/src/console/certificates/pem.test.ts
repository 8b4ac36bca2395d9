import { describe, expect, it } from "vitest";
import { bytesToPem, pemBlocks, splitList } from "./pem";

describe("bytesToPem", () => {
  it("keeps PEM text as it is", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    expect(bytesToPem(new TextEncoder().encode(pem), "CERTIFICATE")).toBe(pem);
  });
  it("wraps DER bytes as PEM of the label, 64 characters a line", () => {
    const der = new Uint8Array(60).map((_, i) => i);
    const out = bytesToPem(der, "CERTIFICATE");
    const lines = out.trim().split("\n");
    expect(lines[0]).toBe("-----BEGIN CERTIFICATE-----");
    expect(lines.at(-1)).toBe("-----END CERTIFICATE-----");
    expect(lines[1]).toHaveLength(64);
    expect(atob(lines.slice(1, -1).join(""))).toBe(String.fromCharCode(...der));
  });
  it("gives bare base64 without a label", () => {
    expect(bytesToPem(new Uint8Array([0x30, 0x82, 0x00]))).toBe("MIIA");
  });
});

describe("pemBlocks", () => {
  it("counts the blocks of each label", () => {
    const t = "-----BEGIN CERTIFICATE-----\na\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nb\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n";
    expect(pemBlocks(t)).toEqual({ CERTIFICATE: 2, "PRIVATE KEY": 1 });
  });
});

describe("splitList", () => {
  it("splits on commas and lines, trimmed, without empties", () => {
    expect(splitList(" release, nightly\n\n ci ,")).toEqual(["release", "nightly", "ci"]);
  });
});
