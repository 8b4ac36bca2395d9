// What the health page and the notices make of the API's answers: components grouped by kind
// in a fixed order, the worst first in each group, and each status as words as well as a
// colour (a colour alone tells a colour-blind reader nothing).
import type { Schemas } from "../api/client";

export type Component = Schemas["HealthComponent"];
export type ComponentStatus = Schemas["ComponentStatus"];
export type Notice = Schemas["Notice"];

// kinds lists the kinds the API names, in the order a person reads them: what signing stands
// on first, then what signs, then what lets agents in, then the business side.
export const kinds: { kind: string; label: string }[] = [
  { kind: "table", label: "Database" },
  { kind: "kms", label: "Key service (KMS)" },
  // The service's own names for its categories, where they differ from the contract's kinds.
  { kind: "service", label: "Database and key service" },
  { kind: "key", label: "Certificate keys" },
  { kind: "keys", label: "Certificate keys" },
  { kind: "certificate", label: "Certificates" },
  { kind: "certificates", label: "Certificates" },
  { kind: "client-ca", label: "Client CAs and client certificates" },
  { kind: "client-certificates", label: "Client CAs and client certificates" },
  { kind: "truststore", label: "Mutual-TLS truststore" },
  { kind: "signing", label: "Signing" },
  { kind: "subscription", label: "Subscription and plan" },
  { kind: "update", label: "Software updates" },
  { kind: "updates", label: "Software updates" },
];

const statusRank: Record<ComponentStatus, number> = { critical: 0, warning: 1, unknown: 2, ok: 3 };

// statusText says a status in words, as the page shows it beside its colour.
export function statusText(s: ComponentStatus): string {
  switch (s) {
    case "ok":
      return "OK";
    case "warning":
      return "Act soon";
    case "critical":
      return "Needs action now";
    default:
      return "Unknown";
  }
}

// overallText is the banner's sentence for the deployment's overall status.
export function overallText(s: ComponentStatus): string {
  switch (s) {
    case "ok":
      return "Everything is working.";
    case "warning":
      return "Something needs attention soon; signing works for now.";
    case "critical":
      return "Signing is, or will shortly be, affected: act on the parts marked below.";
    default:
      return "The state of some parts could not be learnt; see why below.";
  }
}

export interface Group {
  kind: string;
  label: string;
  status: ComponentStatus;
  components: Component[];
}

// worst answers the worst of statuses (ok when there are none).
export function worst(statuses: ComponentStatus[]): ComponentStatus {
  return statuses.reduce<ComponentStatus>((w, s) => (statusRank[s] < statusRank[w] ? s : w), "ok");
}

// groupComponents groups components by kind in the order of kinds (a kind the page does not
// know yet comes last, under its own name, so that nothing the API reports is hidden), each
// group sorted worst first, then by title.
export function groupComponents(components: Component[]): Group[] {
  const byKind = new Map<string, Component[]>();
  for (const c of components) {
    const list = byKind.get(c.kind) ?? [];
    list.push(c);
    byKind.set(c.kind, list);
  }
  const known = kinds.filter((k) => byKind.has(k.kind));
  const unknown = [...byKind.keys()].filter((k) => !kinds.some((x) => x.kind === k)).sort();
  return [...known, ...unknown.map((k) => ({ kind: k, label: k.charAt(0).toUpperCase() + k.slice(1) }))].map(({ kind, label }) => {
    const list = [...(byKind.get(kind) ?? [])].sort((a, b) => statusRank[a.status] - statusRank[b.status] || a.title.localeCompare(b.title));
    return { kind, label, status: worst(list.map((c) => c.status)), components: list };
  });
}

// latencyText says a probe's time, for the table and KMS.
export function latencyText(ms: number | undefined): string | null {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return null;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

// appLink tells how to render a link the API gives: a path of this app ("/portal/…" or
// "/console/…", or the same under the app's base "/app/…") goes through the router (which
// adds the base), an absolute https address is a plain link; other schemes are not links.
export function appLink(link: string | undefined): { kind: "app"; to: string } | { kind: "external"; href: string } | null {
  if (!link) return null;
  if (link.startsWith("/") && !link.startsWith("//")) return { kind: "app", to: link.startsWith("/app/") ? link.slice(4) : link };
  if (/^https:\/\//i.test(link)) return { kind: "external", href: link };
  return null;
}

const consolePages: [RegExp, string][] = [
  [/^\/console\/certificates\/[^/]+/, "Certificates › the certificate"],
  [/^\/console\/certificates/, "Certificates"],
  [/^\/console\/users\/[^/]+/, "Users › the user"],
  [/^\/console\/users/, "Users"],
  [/^\/console\/events/, "Signing events"],
  [/^\/console\/policies/, "Policies"],
  [/^\/console\/domains?/, "Domains"],
];

// consolePage names a console path the way its navigation does, for a page that cannot link
// to it (the portal), with the path itself when it is not one the app knows.
export function consolePage(path: string): string {
  for (const [re, name] of consolePages) if (re.test(path)) return name;
  return path;
}

const severityRank: Record<Notice["severity"], number> = { critical: 0, warning: 1, info: 2 };

// sortNotices keeps the API's order (most severe first) but makes sure of it, oldest first
// within a severity.
export function sortNotices(items: Notice[]): Notice[] {
  return [...items].sort((a, b) => severityRank[a.severity] - severityRank[b.severity] || a.since.localeCompare(b.since));
}

// severityText says a notice's severity in words.
export function severityText(s: Notice["severity"]): string {
  return s === "critical" ? "Critical" : s === "warning" ? "Warning" : "For your information";
}

// when is a time the API gives, for showing, or null when there is none to show: Go's zero
// time (0001-01-01) stands for "not known", and so does anything that is not a date.
export function when(t: string | undefined): Date | null {
  if (!t) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2000 ? null : d;
}
