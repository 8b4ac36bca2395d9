import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { CheckField, Field, SelectField } from "../ui/Field";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { can, useSession } from "../session";

type Domain = Schemas["LocalDomain"];
type Lockout = Schemas["LockoutPolicy"];

interface Form {
  minLength: string;
  requireUpper: boolean;
  requireLower: boolean;
  requireDigit: boolean;
  requireSymbol: boolean;
  maxAgeDays: string;
  mode: Lockout["mode"];
  maxFailures: string;
  durationMinutes: string;
}

function toForm(d: Domain): Form {
  const p = d.passwordPolicy;
  const l = d.lockoutPolicy;
  return {
    minLength: String(p.minLength),
    requireUpper: p.requireUpper,
    requireLower: p.requireLower,
    requireDigit: p.requireDigit,
    requireSymbol: p.requireSymbol,
    maxAgeDays: String(p.maxAgeDays),
    mode: l.mode,
    maxFailures: String(l.maxFailures),
    durationMinutes: String(l.durationMinutes),
  };
}

const lockoutText: Record<Lockout["mode"], string> = {
  none: "Never locks",
  temporary: "Locks for a while",
  permanent: "Locks until a console admin unlocks",
};

// LocalDomain shows the Local users domain's password and lockout policies. Only the
// deployment's Signum Administrator may change them (the API refuses anyone else); the
// change replaces both policies whole, and a change made meanwhile by someone else is 412.
export function LocalDomain() {
  const { session } = useSession();
  const mayChange = can(session, "signum-administrator");
  const [domain, setDomain] = useState<Domain | null>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/console/domains/local");
    if (!data) {
      if (response?.status === 403) setForbidden(true);
      else setProblem(show(error, response));
      return;
    }
    setDomain(data);
    setForm(toForm(data));
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  if (forbidden) {
    return (
      <Page title="Local users domain">
        <Forbidden what="reading the Local users domain" />
      </Page>
    );
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!form) return;
    setBusy(true);
    setMessage("");
    const body: Schemas["LocalDomainPatch"] = {
      passwordPolicy: {
        minLength: Number(form.minLength),
        requireUpper: form.requireUpper,
        requireLower: form.requireLower,
        requireDigit: form.requireDigit,
        requireSymbol: form.requireSymbol,
        maxAgeDays: Number(form.maxAgeDays),
      },
      lockoutPolicy: { mode: form.mode, maxFailures: Number(form.maxFailures), durationMinutes: Number(form.durationMinutes) },
    };
    const { data, error, response } = await api.PATCH("/console/domains/local", { body });
    setBusy(false);
    if (!data) {
      const shown = show(error, response);
      if (shown.status === 412) shown.detail = "Someone changed these policies while you were saving. Reload them, then make your change again.";
      setProblem(shown);
      return;
    }
    setProblem(null);
    setDomain(data);
    setForm(toForm(data));
    setMessage("The policies were saved.");
  }

  const f = form;
  const set = (patch: Partial<Form>) => f && setForm({ ...f, ...patch });
  const err = (k: string) => problem?.fields[k];
  return (
    <Page title="Local users domain">
      <p>The password and lockout rules of the console users who log in with a user name and password on this deployment.</p>
      <ProblemBox problem={problem} />
      {problem?.status === 412 && (
        <button type="button" className="secondary" onClick={() => void load().then(() => setProblem(null))}>
          Reload the policies
        </button>
      )}
      <div role="status">{message}</div>
      {!domain && !problem && <p role="status">Loading…</p>}
      {domain && (
        <>
          <h2>Current policies</h2>
          <dl className="facts">
            <dt>Shortest password</dt>
            <dd>{domain.passwordPolicy.minLength} characters</dd>
            <dt>Must contain</dt>
            <dd>
              {[
                domain.passwordPolicy.requireUpper && "an upper-case letter",
                domain.passwordPolicy.requireLower && "a lower-case letter",
                domain.passwordPolicy.requireDigit && "a digit",
                domain.passwordPolicy.requireSymbol && "a symbol",
              ]
                .filter(Boolean)
                .join(", ") || "nothing in particular"}
            </dd>
            <dt>Password expires</dt>
            <dd>{domain.passwordPolicy.maxAgeDays === 0 ? "Never" : `After ${domain.passwordPolicy.maxAgeDays} days`}</dd>
            <dt>Failed logins</dt>
            <dd>
              {lockoutText[domain.lockoutPolicy.mode]}
              {domain.lockoutPolicy.mode !== "none" && ` after ${domain.lockoutPolicy.maxFailures} failures in a row`}
              {domain.lockoutPolicy.mode === "temporary" && `, for ${domain.lockoutPolicy.durationMinutes} minutes`}
            </dd>
            <dt>Version</dt>
            <dd>
              {domain.version}, changed {domain.updatedAt}
            </dd>
          </dl>
          {!mayChange && <p className="notice">Only the deployment's Signum Administrator can change these policies.</p>}
        </>
      )}
      {mayChange && f && (
        <>
          <h2>Change the policies</h2>
          <form onSubmit={submit} className="form">
            <Field label="Shortest password (characters)" inputMode="numeric" value={f.minLength} error={err("passwordPolicy.minLength")} hint="8 to 128." onChange={(e) => set({ minLength: e.target.value })} />
            <CheckField label="Require an upper-case letter" checked={f.requireUpper} onChange={(v) => set({ requireUpper: v })} />
            <CheckField label="Require a lower-case letter" checked={f.requireLower} onChange={(v) => set({ requireLower: v })} />
            <CheckField label="Require a digit" checked={f.requireDigit} onChange={(v) => set({ requireDigit: v })} />
            <CheckField label="Require a symbol" checked={f.requireSymbol} hint="Any character that is neither a letter nor a digit, space included." onChange={(v) => set({ requireSymbol: v })} />
            <Field
              label="Password expires after (days)"
              inputMode="numeric"
              value={f.maxAgeDays}
              error={err("passwordPolicy.maxAgeDays")}
              hint="0: never. Applies at every login; a user with an older password needs a console admin to set a new one."
              onChange={(e) => set({ maxAgeDays: e.target.value })}
            />
            <SelectField label="On failed logins" value={f.mode} error={err("lockoutPolicy.mode")} onChange={(e) => set({ mode: e.target.value as Lockout["mode"] })}>
              <option value="none">Never lock</option>
              <option value="temporary">Lock for a while</option>
              <option value="permanent">Lock until a console admin unlocks</option>
            </SelectField>
            {f.mode !== "none" && (
              <Field label="Failures in a row before locking" inputMode="numeric" value={f.maxFailures} error={err("lockoutPolicy.maxFailures")} hint="1 to 100." onChange={(e) => set({ maxFailures: e.target.value })} />
            )}
            {f.mode === "temporary" && (
              <Field label="Lock for (minutes)" inputMode="numeric" value={f.durationMinutes} error={err("lockoutPolicy.durationMinutes")} hint="1 to 1440." onChange={(e) => set({ durationMinutes: e.target.value })} />
            )}
            <div>
              <button type="submit" disabled={busy}>
                Save the policies
              </button>
            </div>
          </form>
        </>
      )}
    </Page>
  );
}
