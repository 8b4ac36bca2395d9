import { useId, type ReactNode } from "react";
import { emptyClaim, emptyMapping, emptyRule, claimField, knownClaims, ruleField, type ClaimRow, type MappingRow, type RoleOption, type RuleRow } from "./domainForm";

// The row editors of the domain forms: the CI claim rules (rule name, user, and claim/pattern
// pairs) and the IdP group to role mappings. Each control has a short visible label and a
// full accessible name (which rule, which row), and its field problem beside it.

// RowInput is a labelled input of an editor row: the visible label is short, the rest of its
// name is for screen readers (and tests) only.
function RowInput({ label, more, value, onChange, error, list, hint, inputMode }: {
  label: string;
  more: string;
  value: string;
  onChange(v: string): void;
  error?: string;
  list?: string;
  hint?: string;
  inputMode?: "numeric";
}) {
  const id = useId();
  const described = [hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>
        {label}
        <span className="sr-only"> {more}</span>
      </label>
      <input id={id} value={value} list={list} inputMode={inputMode} autoComplete="off" spellCheck={false} aria-invalid={error ? true : undefined} aria-describedby={described} onChange={(e) => onChange(e.target.value)} />
      {hint && (
        <div id={id + "-hint"} className="hint">
          {hint}
        </div>
      )}
      {error && (
        <div id={id + "-error"} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

// RowSelect is RowInput's select.
function RowSelect({ label, more, value, onChange, error, children }: { label: string; more: string; value: string; onChange(v: string): void; error?: string; children: ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>
        {label}
        <span className="sr-only"> {more}</span>
      </label>
      <select id={id} value={value} aria-invalid={error ? true : undefined} aria-describedby={error ? id + "-error" : undefined} onChange={(e) => onChange(e.target.value)}>
        {children}
      </select>
      {error && (
        <div id={id + "-error"} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

function FieldError({ error }: { error?: string }) {
  return error ? <div className="field-error">{error}</div> : null;
}

// ClaimRules edits a CI domain's rules: tried in order, the first whose every claim pattern
// matches the job's token decides which console user the job acts as.
export function ClaimRules({ rules, onChange, fields, disabled }: { rules: RuleRow[]; onChange(r: RuleRow[]): void; fields: Record<string, string>; disabled?: boolean }) {
  const listId = useId();
  const setRule = (i: number, patch: Partial<RuleRow>) => onChange(rules.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const setClaim = (i: number, k: number, patch: Partial<ClaimRow>) =>
    setRule(i, { claims: rules[i].claims.map((c, j) => (j === k ? { ...c, ...patch } : c)) });
  return (
    <fieldset className="rules-editor" disabled={disabled}>
      <legend>Claim rules</legend>
      <p className="hint">
        Rules are tried in order; the first whose every claim matches decides which console user the job acts as. Each
        pattern is a regular expression (RE2 syntax) that must match the <strong>whole</strong> claim value:{" "}
        <code>refs/tags/v.*</code> matches every tag starting with v, <code>refs/heads/main</code> only that branch; a dot
        matches any character, so write <code>acme/app\.web</code> where it must be a dot. With a shared issuer such as
        GitHub's, pin <code>repository</code> (or <code>repository_owner</code>) in every rule: any repository can get a
        token for any audience.
      </p>
      <FieldError error={fields["ci.rules"]} />
      <datalist id={listId}>
        {knownClaims.map((c) => (
          <option key={c} value={c} />
        ))}
      </datalist>
      {rules.map((r, i) => {
        const n = i + 1;
        return (
          <fieldset key={r.key} className="rule">
            <legend>Rule {n}</legend>
            <div className="rule-head">
              <RowInput label="Rule name" more={`of rule ${n}`} value={r.name} onChange={(v) => setRule(i, { name: v })} error={fields[ruleField(i, "name")]} hint="Recorded on the job's signing events." />
              <RowInput label="Console user" more={`of rule ${n}`} value={r.user} onChange={(v) => setRule(i, { user: v })} error={fields[ruleField(i, "user")]} hint="The user name or id the matching jobs act as." />
            </div>
            <FieldError error={fields[ruleField(i, "claims")]} />
            {r.claims.map((c, k) => (
              <div key={c.key} className="claim-row">
                <RowInput label="Claim" more={`${k + 1} of rule ${n}`} value={c.claim} list={listId} onChange={(v) => setClaim(i, k, { claim: v })} />
                <RowInput
                  label="Pattern (full match)"
                  more={`${k + 1} of rule ${n}`}
                  value={c.pattern}
                  onChange={(v) => setClaim(i, k, { pattern: v })}
                  error={c.claim.trim() ? fields[claimField(i, c.claim)] : undefined}
                />
                <button type="button" className="secondary" onClick={() => setRule(i, { claims: r.claims.filter((_, j) => j !== k) })}>
                  Remove claim {k + 1}
                  <span className="sr-only"> of rule {n}</span>
                </button>
              </div>
            ))}
            <div className="row">
              <button type="button" className="secondary" onClick={() => setRule(i, { claims: [...r.claims, emptyClaim()] })}>
                Add a claim<span className="sr-only"> to rule {n}</span>
              </button>
              {rules.length > 1 && (
                <button type="button" className="secondary" onClick={() => onChange(rules.filter((_, j) => j !== i))}>
                  Remove rule {n}
                </button>
              )}
            </div>
          </fieldset>
        );
      })}
      <button type="button" className="secondary" onClick={() => onChange([...rules, emptyRule()])}>
        Add a rule
      </button>
    </fieldset>
  );
}

// RoleMappings edits an OIDC or SAML domain's IdP group to role mappings.
export function RoleMappings({ mappings, onChange, fields, roles, disabled }: {
  mappings: MappingRow[];
  onChange(m: MappingRow[]): void;
  fields: Record<string, string>;
  roles: RoleOption[];
  disabled?: boolean;
}) {
  const set = (i: number, patch: Partial<MappingRow>) => onChange(mappings.map((m, j) => (j === i ? { ...m, ...patch } : m)));
  return (
    <fieldset className="mappings-editor" disabled={disabled}>
      <legend>IdP groups → roles</legend>
      <p className="hint">
        People in an IdP group get its role; of several, the highest priority wins. A role given to a user directly beats
        every mapping; people with no mapped group get the default role, or are refused.
      </p>
      <FieldError error={fields.groupRoles} />
      {mappings.length === 0 && <p>No mapping.</p>}
      {mappings.map((m, i) => {
        const n = i + 1;
        // A role the domain names that the page does not offer (a custom role, say) stays
        // selectable, so that saving does not change it unseen.
        const known = roles.some((r) => r.value === m.role);
        return (
          <div key={m.key} className="mapping-row">
            <RowInput label="IdP group" more={`of mapping ${n}`} value={m.group} onChange={(v) => set(i, { group: v })} error={fields[`groupRoles[${i}].group`]} />
            <RowSelect label="Role" more={`of mapping ${n}`} value={m.role} onChange={(v) => set(i, { role: v })} error={fields[`groupRoles[${i}].role`]}>
              {!known && <option value={m.role}>{m.role}</option>}
              {roles.map((r) => (
                <option key={r.value} value={r.value}>
                  {r.label}
                </option>
              ))}
            </RowSelect>
            <RowInput label="Priority" more={`of mapping ${n}`} inputMode="numeric" value={m.priority} onChange={(v) => set(i, { priority: v })} error={fields[`groupRoles[${i}].priority`]} />
            <button type="button" className="secondary" onClick={() => onChange(mappings.filter((_, j) => j !== i))}>
              Remove mapping {n}
            </button>
          </div>
        );
      })}
      <button type="button" className="secondary" onClick={() => onChange([...mappings, emptyMapping()])}>
        Add a mapping
      </button>
    </fieldset>
  );
}
