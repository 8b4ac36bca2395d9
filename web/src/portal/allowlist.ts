// The IP allowlist as a portal Admin types it (one address or CIDR a line), checked in the
// browser before it is sent. The rules mirror the service's (lib/tenant.ParseAllowlist, on Go's
// net/netip parser): an IPv4 address in dotted decimal without leading zeros, an IPv6 address
// (an embedded IPv4 tail allowed, no zone), each optionally with /bits (decimal, no leading
// zero or sign; at most 32 or 128); an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d) needs at least
// /96 and is stored as the IPv4 prefix it maps; host bits are allowed and masked off; duplicates
// are stored once; at most 200 entries. The service stays the judge: its answer is shown too.

// MAX_ALLOWLIST is tenant.MaxAllowlist: the most entries one list may hold.
export const MAX_ALLOWLIST = 200;

export interface LineProblem {
  // line is the 1-based line of the text, as the Admin sees it.
  line: number;
  text: string;
  reason: string;
}

export interface AllowlistCheck {
  // entries are the non-blank lines, trimmed: what is sent as ipAllowlist.
  entries: string[];
  // canonical is what the service will store: masked prefixes, duplicates dropped.
  canonical: string[];
  // errors are the lines the service would refuse, each with why.
  errors: LineProblem[];
  // notes are lines that will be stored differently from how they are written.
  notes: LineProblem[];
  // tooMany is set when the list holds more entries than the service takes.
  tooMany?: string;
}

interface Addr {
  bytes: number[]; // 4 or 16
  zone: string;
}

type Parsed = { ok: true; addr: Addr } | { ok: false; reason: string };

const fail = (reason: string): Parsed => ({ ok: false, reason });

// parseIPv4Fields fills 4 bytes from dotted decimal, as netip's parser does.
function parseIPv4Fields(s: string): number[] | string {
  const out: number[] = [];
  let val = 0;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c >= "0" && c <= "9") {
      if (digits === 1 && val === 0) return "an IPv4 number has a leading zero";
      val = val * 10 + (c.charCodeAt(0) - 48);
      digits++;
      if (val > 255) return "an IPv4 number is over 255";
    } else if (c === ".") {
      if (i === 0 || i === s.length - 1 || s[i - 1] === ".") return "an IPv4 address needs a number between the dots";
      if (out.length === 3) return "an IPv4 address has four numbers, this one more";
      out.push(val);
      val = 0;
      digits = 0;
    } else {
      return `an IPv4 address has only digits and dots, not ${JSON.stringify(c)}`;
    }
  }
  if (out.length < 3) return "an IPv4 address has four numbers, this one fewer";
  out.push(val);
  return out;
}

function parseIPv6(input: string): Parsed {
  let s = input;
  let zone = "";
  const pct = s.indexOf("%");
  if (pct !== -1) {
    zone = s.slice(pct + 1);
    s = s.slice(0, pct);
    if (zone === "") return fail("an IPv6 zone after % cannot be empty");
  }
  const ip = new Array<number>(16).fill(0);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ":" && s[1] === ":") {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return { ok: true, addr: { bytes: ip, zone } };
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      if (!/[0-9a-fA-F]/.test(s[off])) break;
      if (off > 3) return fail("an IPv6 group has more than 4 hex digits");
      acc = acc * 16 + parseInt(s[off], 16);
    }
    if (off === 0) return fail("an IPv6 address needs hex digits between its colons");
    if (off < s.length && s[off] === ".") {
      if (ellipsis < 0 && i !== 12) return fail("an embedded IPv4 address must replace the last two groups of the IPv6 address");
      if (i + 4 > 16) return fail("too many groups before the embedded IPv4 address");
      const v4 = parseIPv4Fields(s);
      if (typeof v4 === "string") return fail(v4);
      for (let k = 0; k < 4; k++) ip[i + k] = v4[k];
      s = "";
      i += 4;
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ":") return fail(`an IPv6 address has only hex digits and colons, not ${JSON.stringify(s[0])}`);
    if (s.length === 1) return fail("an IPv6 address cannot end in a single colon");
    s = s.slice(1);
    if (s[0] === ":") {
      if (ellipsis >= 0) return fail("an IPv6 address can have :: only once");
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) return fail("an IPv6 address has more than 8 groups");
  if (i < 16) {
    if (ellipsis < 0) return fail("an IPv6 address has 8 groups (or :: for zeros), this one fewer");
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j];
    for (let j = ellipsis; j < ellipsis + n; j++) ip[j] = 0;
  } else if (ellipsis >= 0) {
    return fail("an IPv6 address with 8 groups has no room for ::");
  }
  return { ok: true, addr: { bytes: ip, zone } };
}

// parseAddr is netip.ParseAddr: the first '.' or ':' decides the family.
export function parseAddr(s: string): Parsed {
  if (/^[^%]*[g-zG-Z_]/.test(s)) return fail("not an IP address or CIDR (host names are not allowed)");
  for (const c of s) {
    if (c === ".") {
      const v4 = parseIPv4Fields(s);
      return typeof v4 === "string" ? fail(v4) : { ok: true, addr: { bytes: v4, zone: "" } };
    }
    if (c === ":") return parseIPv6(s);
    if (c === "%") return fail("an IPv6 address is missing before %");
  }
  return fail("not an IP address (host names are not allowed)");
}

function is4In6(b: number[]) {
  return b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

function mask(b: number[], bits: number) {
  return b.map((x, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    return x & ((0xff << (8 - keep)) & 0xff);
  });
}

// format writes an address as netip does: dotted decimal, or RFC 5952 IPv6 (lower case, the
// longest run of two or more zero groups as ::, the first on a tie).
export function format(b: number[]): string {
  if (b.length === 4) return b.join(".");
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  let zs = -1;
  let ze = -1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i >= 2 && j - i > ze - zs) {
      zs = i;
      ze = j;
    }
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === zs) {
      out += "::";
      i = ze;
      if (i >= 8) break;
    } else if (i > 0) {
      out += ":";
    }
    out += g[i].toString(16);
  }
  return out;
}

export type Entry = { ok: true; canonical: string } | { ok: false; reason: string };

// parseEntry checks one entry as the service does and gives the prefix it would store.
export function parseEntry(raw: string): Entry {
  const e = raw.trim();
  let addr: Addr;
  let bits: number;
  if (e.includes("/")) {
    const at = e.lastIndexOf("/");
    const p = parseAddr(e.slice(0, at));
    if (!p.ok) return p;
    addr = p.addr;
    if (addr.zone !== "") return { ok: false, reason: "a CIDR cannot have an IPv6 zone (%…)" };
    const b = e.slice(at + 1);
    const max = addr.bytes.length * 8;
    if (!/^(0|[1-9][0-9]*)$/.test(b)) return { ok: false, reason: `the prefix length after / must be a number from 0 to ${max}, without leading zeros` };
    bits = Number(b);
    if (bits > max) return { ok: false, reason: `the prefix length /${b} is longer than ${max}, the most an ${max === 32 ? "IPv4" : "IPv6"} address has` };
  } else {
    const p = parseAddr(e);
    if (!p.ok) return p;
    addr = p.addr;
    if (addr.zone !== "") return { ok: false, reason: "an IPv6 zone (%…) is not allowed" };
    bits = addr.bytes.length * 8;
  }
  let bytes = addr.bytes;
  if (is4In6(bytes)) {
    if (bits < 96) return { ok: false, reason: "an IPv4-mapped prefix (::ffff:…) must be /96 or longer" };
    bytes = bytes.slice(12);
    bits -= 96;
  }
  return { ok: true, canonical: `${format(mask(bytes, bits))}/${bits}` };
}

// checkAllowlist checks the text of the allowlist box, line by line; blank lines are ignored.
export function checkAllowlist(text: string): AllowlistCheck {
  const result: AllowlistCheck = { entries: [], canonical: [], errors: [], notes: [] };
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, idx) => {
    const t = raw.trim();
    if (t === "") return;
    const line = idx + 1;
    result.entries.push(t);
    const p = parseEntry(t);
    if (!p.ok) {
      result.errors.push({ line, text: t, reason: p.reason });
      return;
    }
    const first = seen.get(p.canonical);
    if (first !== undefined) {
      result.notes.push({ line, text: t, reason: `the same as line ${first} (${p.canonical}); stored once` });
      return;
    }
    seen.set(p.canonical, line);
    result.canonical.push(p.canonical);
    const plain = t.includes("/") ? t : `${t}/${p.canonical.includes(":") ? 128 : 32}`;
    if (plain.toLowerCase() !== p.canonical) {
      result.notes.push({ line, text: t, reason: `stored as ${p.canonical}` });
    }
  });
  if (result.entries.length > MAX_ALLOWLIST) {
    result.tooMany = `The list has ${result.entries.length} entries; at most ${MAX_ALLOWLIST} are allowed.`;
  }
  return result;
}
