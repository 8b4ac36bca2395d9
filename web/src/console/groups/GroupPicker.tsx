import { useEffect, useId, useState } from "react";
import { api, type Schemas } from "../../api/client";
import { type Shown } from "../../api/problem";
import { allPages } from "../../ui/Pager";
import { CheckField } from "../../ui/Field";

export type Group = Schemas["CertificateGroup"];

// allGroups reads every certificate group of the deployment, a page at a time, sorted by name.
export async function allGroups(): Promise<{ groups: Group[] } | { problem: Shown; status: number }> {
  const r = await allPages((cursor) => api.GET("/console/certificate-groups", { params: { query: { limit: 100, cursor } } }));
  return "items" in r ? { groups: r.items.sort((a, b) => a.name.localeCompare(b.name)) } : r;
}

// useGroups loads the groups once for a form; groups is null until they arrive.
export function useGroups() {
  const [groups, setGroups] = useState<Group[] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  useEffect(() => {
    let live = true;
    void allGroups().then((r) => {
      if (!live) return;
      if ("groups" in r) setGroups(r.groups);
      else setProblem(r.problem);
    });
    return () => {
      live = false;
    };
  }, []);
  return { groups, problem };
}

// groupNames shows ids by their groups' names, an unknown id (a group deleted meanwhile, or a
// label not yet migrated) as it is.
export function groupNames(ids: string[], groups: Group[] | null): string {
  if (!ids.length) return "—";
  return ids.map((id) => (id === "*" ? "every certificate" : (groups?.find((g) => g.id === id)?.name ?? id))).join(", ");
}

// toggle adds or removes id from ids, keeping their order.
export function toggle(ids: string[], id: string, on: boolean): string[] {
  const rest = ids.filter((x) => x !== id);
  return on ? [...rest, id] : rest;
}

// GroupPicker chooses certificate groups by name (the API takes their ids): one checkbox per
// group, in a fieldset whose legend names the choice. every adds the "*" choice of policies
// (every certificate, whatever its groups).
export function GroupPicker({
  legend,
  groups,
  selected,
  onChange,
  error,
  hint,
  every,
}: {
  legend: string;
  groups: Group[] | null;
  selected: string[];
  onChange(ids: string[]): void;
  error?: string;
  hint?: string;
  every?: boolean;
}) {
  const id = useId();
  const full = (g: Group) => g.certificateLimit != null && g.certificateLimit > 0 && g.certificateCount >= g.certificateLimit;
  // Ids the form holds that no group has (deleted since, or labels not migrated) stay visible,
  // so that saving does not drop them unnoticed.
  const unknown = selected.filter((s) => s !== "*" && !groups?.some((g) => g.id === s));
  return (
    <fieldset className="form" aria-describedby={[hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ") || undefined}>
      <legend>{legend}</legend>
      {hint && (
        <div id={id + "-hint"} className="hint">
          {hint}
        </div>
      )}
      {groups === null && <p role="status">Loading the groups…</p>}
      {groups?.length === 0 && !every && <p>There is no certificate group yet; the Signum Administrator creates them.</p>}
      {every && (
        <CheckField label="Every certificate (*)" checked={selected.includes("*")} onChange={(on) => onChange(toggle(selected, "*", on))} hint="Whatever groups it is in, also ones made later." />
      )}
      {groups?.map((g) => (
        <CheckField
          key={g.id}
          label={g.name}
          checked={selected.includes(g.id)}
          onChange={(on) => onChange(toggle(selected, g.id, on))}
          hint={`${g.certificateCount} certificate${g.certificateCount === 1 ? "" : "s"}${g.certificateLimit ? ` of at most ${g.certificateLimit}` : ""}${full(g) && !selected.includes(g.id) ? " (full)" : ""}`}
        />
      ))}
      {unknown.map((u) => (
        <CheckField key={u} label={`${u} (no such group)`} checked onChange={(on) => onChange(toggle(selected, u, on))} />
      ))}
      {error && (
        <div id={id + "-error"} className="field-error">
          {error}
        </div>
      )}
    </fieldset>
  );
}
