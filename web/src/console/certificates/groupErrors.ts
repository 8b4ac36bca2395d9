import type { Shown } from "../../api/problem";
import { groupNames, type Group } from "../groups/GroupPicker";

// groupErrors gathers the API's reasons about a certificate's groups — the list as a whole
// ("groups") and single entries ("groups[2]") — into one text that names the groups.
export function groupErrors(problem: Shown | null, selected: string[], groups: Group[] | null): string | undefined {
  const f = problem?.fields ?? {};
  const out: string[] = [];
  for (const [k, v] of Object.entries(f)) {
    if (k === "groups") out.push(v);
    const m = /^groups\[(\d+)\]$/.exec(k);
    if (m) {
      const id = selected[Number(m[1])];
      out.push(id ? `${groupNames([id], groups)}: ${v}` : v);
    }
  }
  return out.length ? out.join("; ") : undefined;
}
