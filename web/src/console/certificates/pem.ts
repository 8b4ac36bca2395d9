// Reading certificates and chains from files as the API takes them: PEM text as it is, and a
// binary (DER) file as base64, wrapped as PEM where the API wants PEM. Pure, so tested alone.

// bytesToPem turns a file's bytes into what is sent: text that holds a PEM block is sent as
// it is; anything else is taken as DER and written as base64, wrapped in a PEM block of label
// when label is given (a .cer certificate), or bare (the API takes a DER PKCS#7 chain as
// base64).
export function bytesToPem(bytes: Uint8Array, label?: string): string {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (text.includes("-----BEGIN ")) return text;
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const b64 = btoa(binary);
  if (!label) return b64;
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

// pemBlocks counts the PEM blocks of each label in text, so that a form can say what it
// holds before it is sent (the API checks it again).
export function pemBlocks(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)) out[m[1]] = (out[m[1]] ?? 0) + 1;
  return out;
}

// splitList reads a comma- or newline-separated list (SANs, groups), trimmed, empties dropped.
export function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}
