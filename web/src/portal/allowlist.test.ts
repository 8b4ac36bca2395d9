import { describe, expect, it } from "vitest";
import { checkAllowlist, MAX_ALLOWLIST, parseEntry } from "./allowlist";

// The expected canonical forms are what lib/tenant.ParseAllowlist stores (checked against it
// when this file was written: 68 entries, the same answer for each).
const stored = (e: string) => {
  const p = parseEntry(e);
  return p.ok ? p.canonical : "refused: " + p.reason;
};

describe("allowlist entries", () => {
  it.each([
    ["10.0.0.1", "10.0.0.1/32"],
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["  192.168.1.7  ", "192.168.1.7/32"],
    ["::1", "::1/128"],
    ["2001:db8::/32", "2001:db8::/32"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128"],
    ["ABCD::EF", "abcd::ef/128"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"],
    ["1:0:0:0:1:0:0:0", "1::1:0:0:0/128"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0/128"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304/128"],
  ])("takes %s as %s", (e, want) => expect(stored(e)).toBe(want));

  it("masks host bits off, as the service does", () => {
    expect(stored("10.1.2.3/8")).toBe("10.0.0.0/8");
    expect(stored("2001:db8:ffff::/33")).toBe("2001:db8:8000::/33");
  });

  it("stores IPv4-mapped addresses as IPv4, and refuses mapped prefixes shorter than /96", () => {
    expect(stored("::ffff:1.2.3.4")).toBe("1.2.3.4/32");
    expect(stored("::ffff:1.2.3.4/120")).toBe("1.2.3.0/24");
    expect(stored("::ffff:1.2.3.4/95")).toMatch(/^refused: .*\/96/);
  });

  it.each([
    ["010.0.0.1", "leading zero"],
    ["10.0.0.256", "over 255"],
    ["10.0.0", "fewer"],
    ["10.0.0.0.0", "more"],
    ["10..0.1", "between the dots"],
    ["10.0.0.1/33", "longer than 32"],
    ["10.0.0.1/08", "without leading zeros"],
    ["10.0.0.1/", "a number from 0 to 32"],
    ["::/129", "longer than 128"],
    ["1::2::3", ":: only once"],
    ["1:2:3:4:5:6:7:8:9", "more than 8 groups"],
    ["1:2:3:4:5:6:7:8::", "no room for ::"],
    ["12345::1", "more than 4 hex digits"],
    ["1:2:3:4:5:6:7:1.2.3.4", "last two groups"],
    ["fe80::1%eth0", "zone"],
    ["fe80::1%eth0/64", "zone"],
    ["example.com", "host names"],
    ["1.2.3.4:80", "digits and dots"],
    ["5", "not an IP address"],
  ])("refuses %s (%s)", (e, why) => expect(stored(e)).toContain(why));
});

describe("the allowlist box", () => {
  it("gives each bad line its number and reason, and sends the other lines trimmed", () => {
    const c = checkAllowlist("127.0.0.1/32\n\n  ::1/128 \n10.0.0.300\nlocalhost\n");
    expect(c.entries).toEqual(["127.0.0.1/32", "::1/128", "10.0.0.300", "localhost"]);
    expect(c.errors.map((e) => [e.line, e.text])).toEqual([
      [4, "10.0.0.300"],
      [5, "localhost"],
    ]);
    expect(c.errors[0].reason).toContain("over 255");
    expect(c.tooMany).toBeUndefined();
  });

  it("notes what will be stored differently: masked, and duplicates once", () => {
    const c = checkAllowlist("10.1.2.3/8\n10.0.0.0/8\n2001:DB8::1\n");
    expect(c.errors).toEqual([]);
    expect(c.canonical).toEqual(["10.0.0.0/8", "2001:db8::1/128"]);
    expect(c.notes).toEqual([
      { line: 1, text: "10.1.2.3/8", reason: "stored as 10.0.0.0/8" },
      { line: 2, text: "10.0.0.0/8", reason: "the same as line 1 (10.0.0.0/8); stored once" },
    ]);
  });

  it("an empty box admits every address", () => {
    const c = checkAllowlist(" \n\n");
    expect(c.entries).toEqual([]);
    expect(c.errors).toEqual([]);
  });

  it(`refuses more than ${MAX_ALLOWLIST} entries, counted as sent`, () => {
    const lines = Array.from({ length: MAX_ALLOWLIST }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    expect(checkAllowlist(lines.join("\n")).tooMany).toBeUndefined();
    expect(checkAllowlist([...lines, "10.0.0.0"].join("\n")).tooMany).toContain("201 entries");
  });
});
