import { useEffect, useRef, useState, type FormEvent } from "react";
import { api } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { CheckField, Field, SelectField, TextAreaField } from "../../ui/Field";
import { RequireTimestampField } from "../timestamping/RequireTimestampField";
import { ProblemBox } from "../../ui/ProblemBox";
import { GroupPicker, groupNames, useGroups } from "../groups/GroupPicker";
import { PolicyGrantField } from "../grants/PolicyGrantField";
import { ApprovalField } from "./ApprovalField";
import {
  conflictingPolicies,
  emptyForm,
  fieldErrors,
  fromPolicy,
  toBody,
  validate,
  weekdays,
  type Policy,
  type PolicyForm,
} from "./policyForm";

export interface Known {
  certificates: { id: string; name: string }[];
  users: { id: string; name: string }[];
}

interface Props {
  // policyId is the policy to edit; absent, a new one is created.
  policyId?: string;
  known: Known;
  // names maps policy ids to names, to say which policy a refusal names.
  names: Record<string, string>;
  onSaved(p: Policy): void;
  onCancel(): void;
  // onConflict is told which policies the API says this one could contradict ([] to clear).
  onConflict(ids: string[]): void;
}

// PolicyEditor creates a policy or replaces one (PUT with the ETag read as If-Match), with
// What, Who, Where and When as the Policy schema has them.
export function PolicyEditor({ policyId, known, names, onSaved, onCancel, onConflict }: Props) {
  const [form, setForm] = useState<PolicyForm | null>(policyId ? null : emptyForm());
  const [etag, setEtag] = useState<string | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [stale, setStale] = useState(false);
  const [conflicts, setConflicts] = useState<string[]>([]);
  const heading = useRef<HTMLHeadingElement>(null);
  const { groups } = useGroups();

  async function load() {
    if (!policyId) return;
    const { data, error, response } = await api.GET("/console/policies/{policyId}", { params: { path: { policyId } } });
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setForm(fromPolicy(data));
    setEtag(response.headers.get("ETag") ?? `"${data.version}"`);
    setStale(false);
    setProblem(null);
    setErrors({});
  }

  useEffect(() => {
    void load();
    heading.current?.focus();
    // load depends only on policyId: the editor loads once per policy it opens.
  }, [policyId]);

  if (!form) {
    return (
      <section className="editor" aria-labelledby="editor-title">
        <h2 id="editor-title" ref={heading} tabIndex={-1}>
          Edit policy
        </h2>
        {problem ? <ProblemBox problem={problem} /> : <p role="status">Loading the policy…</p>}
        <button type="button" className="secondary" onClick={onCancel}>
          Close the editor
        </button>
      </section>
    );
  }
  const f = form;
  const set = (patch: Partial<PolicyForm>) => setForm({ ...f, ...patch });

  async function submit(e: FormEvent) {
    e.preventDefault();
    const local = validate(f);
    setErrors(local);
    if (Object.keys(local).length > 0) {
      setProblem({ title: "Check the fields marked below", fields: local });
      return;
    }
    setBusy(true);
    const body = toBody(f);
    const r = policyId
      ? await api.PUT("/console/policies/{policyId}", { params: { path: { policyId }, header: { "If-Match": etag ?? undefined } }, body })
      : await api.POST("/console/policies", { body });
    setBusy(false);
    if (!r.data) {
      const shown = show(r.error, r.response);
      const ids = conflictingPolicies(shown, policyId);
      setConflicts(ids);
      onConflict(ids);
      setStale(shown.status === 412);
      setErrors(fieldErrors(shown.fields, (i) => groupNames([body.what.groups?.[i] ?? `entry ${i + 1}`], groups)));
      setProblem(shown);
      return;
    }
    onConflict([]);
    onSaved(r.data);
  }

  const err = (k: string) => errors[k];
  return (
    <section className="editor" aria-labelledby="editor-title">
      <h2 id="editor-title" ref={heading} tabIndex={-1}>
        {policyId ? `Edit policy “${f.name}”` : "New policy"}
      </h2>
      <form onSubmit={submit} className="form policy-form" noValidate>
        <ProblemBox problem={problem} />
        {stale && (
          <div className="notice" role="status">
            Someone changed this policy since you opened it. Reload it to see the current version, then make your change again.{" "}
            <button type="button" className="secondary" onClick={() => void load()}>
              Reload the policy
            </button>
          </div>
        )}
        {conflicts.length > 0 && (
          <div className="notice" role="status">
            This policy could contradict{" "}
            {conflicts.map((id, i) => (
              <span key={id}>
                {i > 0 && ", "}
                <a href={`#policy-${id}`}>{names[id] ? `“${names[id]}” (${id})` : id}</a>
              </span>
            ))}
            , highlighted in the list. Give one of them another priority, or make their certificates or users disjoint.
          </div>
        )}
        <Field label="Name" required value={f.name} error={err("name")} onChange={(e) => set({ name: e.target.value })} />
        <SelectField label="Action" value={f.action} error={err("action")} onChange={(e) => set({ action: e.target.value as "allow" | "deny" })}>
          <option value="allow">Allow</option>
          <option value="deny">Deny</option>
        </SelectField>
        <Field
          label="Priority"
          inputMode="numeric"
          value={f.priority}
          error={err("priority")}
          hint="Higher wins. At equal priority a Deny wins."
          onChange={(e) => set({ priority: e.target.value })}
        />
        <CheckField label="Enabled" checked={f.enabled} onChange={(v) => set({ enabled: v })} hint="Only an enabled policy takes part in decisions." />
        <RequireTimestampField form={f} error={err("requireTimestamp")} onChange={(v) => set({ requireTimestamp: v })} />

        <fieldset>
          <legend>What: certificates</legend>
          {err("what") && <p className="field-error">{err("what")}</p>}
          <TextAreaField
            className="list-input"
            label="Certificate ids"
            value={f.certificates}
            error={err("what.certificates")}
            hint={
              <>
                One per line, like crt_…
                {known.certificates.length > 0 && <> Known: {known.certificates.map((c) => `${c.name} (${c.id})`).join("; ")}.</>}
              </>
            }
            onChange={(e) => set({ certificates: e.target.value })}
          />
          <GroupPicker
            legend="Certificate groups"
            groups={groups}
            selected={f.groups}
            every
            error={err("what.groups")}
            hint="The policy applies to every certificate in a chosen group."
            onChange={(ids) => set({ groups: ids })}
          />
        </fieldset>

        <fieldset>
          <legend>Who: users and roles</legend>
          {err("who") && <p className="field-error">{err("who")}</p>}
          <TextAreaField
            className="list-input"
            label="User ids"
            value={f.users}
            error={err("who.users")}
            hint={
              <>
                One per line: console users cu_…, portal users pu_…
                {known.users.length > 0 && <> Known: {known.users.map((u) => `${u.name} (${u.id})`).join("; ")}.</>}
              </>
            }
            onChange={(e) => set({ users: e.target.value })}
          />
          <TextAreaField
            className="list-input"
            label="Roles"
            value={f.roles}
            error={err("who.roles")}
            hint="One per line: console roles (signer, console-admin, console-viewer, signum-administrator) or portal roles written portal:Admin, portal:User, portal:Viewer."
            onChange={(e) => set({ roles: e.target.value })}
          />
        </fieldset>

        <fieldset>
          <legend>Where: applications</legend>
          <p className="hint">
            No application: any. Patterns are regular expressions (RE2) that must match the whole value, case-sensitively; start with (?i) to ignore case.
          </p>
          {err("where") && <p className="field-error">{err("where")}</p>}
          {f.where.map((a, i) => (
            <div key={i} className="repeat">
              <Field
                label={`Application ${i + 1}: process pattern`}
                value={a.process}
                error={err(`where[${i}].process`)}
                onChange={(e) => set({ where: f.where.map((x, j) => (j === i ? { ...x, process: e.target.value } : x)) })}
              />
              <Field
                label={`Application ${i + 1}: command line pattern`}
                value={a.commandLine}
                error={err(`where[${i}].commandLine`)}
                hint="Empty: any command line."
                onChange={(e) => set({ where: f.where.map((x, j) => (j === i ? { ...x, commandLine: e.target.value } : x)) })}
              />
              <button type="button" className="secondary" onClick={() => set({ where: f.where.filter((_, j) => j !== i) })}>
                Remove application {i + 1}
              </button>
            </div>
          ))}
          <button type="button" className="secondary" onClick={() => set({ where: [...f.where, { process: "", commandLine: "" }] })}>
            Add an application
          </button>
        </fieldset>

        <fieldset>
          <legend>When: schedule</legend>
          <p className="hint">No window: any time of the week. Windows are wall-clock time in the time zone and cannot cross midnight.</p>
          {err("when.windows") && <p className="field-error">{err("when.windows")}</p>}
          {f.windows.length > 0 && (
            <Field label="Time zone" value={f.timeZone} error={err("when.timeZone")} hint="IANA name, like Europe/Berlin or UTC." onChange={(e) => set({ timeZone: e.target.value })} />
          )}
          {f.windows.map((w, i) => {
            const setW = (patch: Partial<typeof w>) => set({ windows: f.windows.map((x, j) => (j === i ? { ...x, ...patch } : x)) });
            return (
              <div key={i} className="repeat">
                <fieldset className="days" aria-describedby={err(`when.windows[${i}].days`) ? `days-${i}-error` : undefined}>
                  <legend>Window {i + 1}: days</legend>
                  <div className="row">
                    {weekdays.map((d) => (
                      <CheckField
                        key={d}
                        label={d[0].toUpperCase() + d.slice(1)}
                        checked={w.days.includes(d)}
                        onChange={(on) => setW({ days: on ? [...w.days, d] : w.days.filter((x) => x !== d) })}
                      />
                    ))}
                  </div>
                  {err(`when.windows[${i}].days`) && (
                    <p id={`days-${i}-error`} className="field-error">
                      {err(`when.windows[${i}].days`)}
                    </p>
                  )}
                </fieldset>
                <div className="row">
                  <Field label={`Window ${i + 1}: from`} placeholder="08:00" value={w.from} error={err(`when.windows[${i}].from`)} hint="HH:MM" onChange={(e) => setW({ from: e.target.value })} />
                  <Field label={`Window ${i + 1}: to`} placeholder="18:00" value={w.to} error={err(`when.windows[${i}].to`)} hint="HH:MM, up to 24:00" onChange={(e) => setW({ to: e.target.value })} />
                </div>
                <button type="button" className="secondary" onClick={() => set({ windows: f.windows.filter((_, j) => j !== i) })}>
                  Remove window {i + 1}
                </button>
              </div>
            );
          })}
          <button type="button" className="secondary" onClick={() => set({ windows: [...f.windows, { days: ["monday", "tuesday", "wednesday", "thursday", "friday"], from: "08:00", to: "18:00" }] })}>
            Add a time window
          </button>
          <Field label="Not before" placeholder="2026-01-01T00:00:00Z" value={f.notBefore} error={err("when.notBefore")} hint="Optional. RFC 3339 with a zone." onChange={(e) => set({ notBefore: e.target.value })} />
          <Field label="Not after" placeholder="2026-12-31T23:59:59Z" value={f.notAfter} error={err("when.notAfter")} hint="Optional. RFC 3339 with a zone." onChange={(e) => set({ notAfter: e.target.value })} />
        </fieldset>
        <PolicyGrantField value={f.grant} errors={errors} onChange={(grant) => set({ grant })} />

        <ApprovalField value={f.approval} errors={errors} onChange={(approval) => set({ approval })} />

        <div className="row">
          <button type="submit" disabled={busy}>
            {policyId ? "Save the policy" : "Create the policy"}
          </button>
          <button type="button" className="secondary" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
