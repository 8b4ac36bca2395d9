import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { Field } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { allPages } from "../../ui/Pager";
import { may, useSession } from "../../session";
import { emptyUserGrant, stateLabel, toUserGrant, usageText, validateUserGrant, windowText, type UserGrant, type UserGrantForm } from "./grantForm";

// Grants lists the deployment's one-off grants (a user may sign with a certificate N times in
// a window, without a policy) with their counts; console admins create and revoke them. A
// policy's own grant is set, and its count shown, in the policy's editor.
export function Grants() {
  const { session } = useSession();
  const admin = may(session, "policies", "manage");
  const [grants, setGrants] = useState<UserGrant[] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [notice, setNotice] = useState("");

  const load = useCallback(async () => {
    const r = await allPages((cursor) => api.GET("/console/grants", { params: { query: { cursor, limit: 100 } } }));
    if ("problem" in r) {
      if (r.status === 403) setForbidden(true);
      else setProblem(r.problem);
      return;
    }
    setProblem(null);
    setGrants(r.items);
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  const done = (msg: string) => {
    setNotice(msg);
    void load();
  };

  if (forbidden) {
    return (
      <Page title="Grants">
        <Forbidden what="reading the grants" />
      </Page>
    );
  }
  return (
    <Page title="Grants">
      <p>
        A one-off grant lets a user sign with a certificate a number of times in a window, even when no policy allows it. A
        policy that denies the user still wins. Each signature (one per digest) is counted exactly; past the count a request is
        refused and the refusal names the grant. A policy can carry a grant too: set it in the policy's editor.
      </p>
      <div role="status">{notice && <p className="notice">{notice}</p>}</div>
      <ProblemBox problem={problem} />
      {grants === null && !problem && <p role="status">Loading the grants…</p>}
      {grants && grants.length === 0 && <p>There is no one-off grant.</p>}
      {grants && grants.length > 0 && (
        <TableWrap label="One-off grants" caption="One-off grants">
          <thead>
            <tr>
              <th scope="col">Grant</th>
              <th scope="col">User</th>
              <th scope="col">Certificate</th>
              <th scope="col">Used</th>
              <th scope="col">Window</th>
              <th scope="col">State</th>
              {admin && <th scope="col">Change</th>}
            </tr>
          </thead>
          <tbody>
            {grants.map((g) => (
              <GrantRow key={g.id} grant={g} admin={admin} onDone={done} />
            ))}
          </tbody>
        </TableWrap>
      )}
      {admin ? <CreateGrant onDone={done} /> : <p className="notice">Only console admins create and revoke grants.</p>}
    </Page>
  );
}

function GrantRow({ grant: g, admin, onDone }: { grant: UserGrant; admin: boolean; onDone(msg: string): void }) {
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  async function revoke() {
    setBusy(true);
    const { data, error, response } = await api.POST("/console/grants/{grantId}/revoke", { params: { path: { grantId: g.id } } });
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    onDone(`Grant ${g.id} was revoked: ${usageText(data.used, data.maxSignatures)}.`);
  }
  return (
    <tr>
      <th scope="row" className="mono">
        {g.id}
      </th>
      <td className="mono">{g.userId}</td>
      <td className="mono">{g.certificateId}</td>
      <td>{usageText(g.used, g.maxSignatures)}</td>
      <td>{windowText(g.from, g.to)}</td>
      <td>{stateLabel(g.state)}</td>
      {admin && (
        <td>
          <ProblemBox problem={problem} />
          {g.state !== "revoked" && (
            <button type="button" className="danger" disabled={busy} onClick={() => void revoke()} aria-label={`Revoke grant ${g.id}`}>
              Revoke
            </button>
          )}
        </td>
      )}
    </tr>
  );
}

function CreateGrant({ onDone }: { onDone(msg: string): void }) {
  const [form, setForm] = useState<UserGrantForm>(emptyUserGrant());
  const [problem, setProblem] = useState<Shown | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<UserGrantForm>) => setForm({ ...form, ...patch });
  async function submit(e: FormEvent) {
    e.preventDefault();
    const local = validateUserGrant(form);
    setErrors(local);
    if (Object.keys(local).length > 0) {
      setProblem({ title: "Check the fields marked below", fields: local });
      return;
    }
    setBusy(true);
    const { data, error, response } = await api.POST("/console/grants", { body: toUserGrant(form) });
    setBusy(false);
    if (!data) {
      const shown = show(error, response);
      setErrors(shown.fields);
      setProblem(shown);
      return;
    }
    setProblem(null);
    setErrors({});
    setForm(emptyUserGrant());
    onDone(`Grant ${data.id} lets ${data.userId} sign with ${data.certificateId} ${data.maxSignatures} time${data.maxSignatures === 1 ? "" : "s"}, ${windowText(data.from, data.to)}.`);
  }
  return (
    <section aria-labelledby="create-grant">
      <h2 id="create-grant">Grant signatures to a user</h2>
      <form onSubmit={submit} className="form" noValidate>
        <ProblemBox problem={problem} />
        <Field label="User id" required placeholder="cu_…" value={form.userId} error={errors.userId} hint="An active console (cu_…) or portal (pu_…) user." onChange={(e) => set({ userId: e.target.value })} />
        <Field label="Certificate id" required placeholder="crt_…" value={form.certificateId} error={errors.certificateId} onChange={(e) => set({ certificateId: e.target.value })} />
        <Field label="Signatures" required inputMode="numeric" value={form.max} error={errors.maxSignatures} hint="One per digest signed." onChange={(e) => set({ max: e.target.value })} />
        <Field label="From" placeholder="2026-12-01T00:00:00Z" value={form.from} error={errors.from} hint="Optional. RFC 3339 with a zone; empty: from now." onChange={(e) => set({ from: e.target.value })} />
        <Field label="Until" placeholder="2026-12-02T00:00:00Z" value={form.to} error={errors.to} hint="Optional, exclusive. RFC 3339 with a zone; empty: no end." onChange={(e) => set({ to: e.target.value })} />
        <button type="submit" disabled={busy}>
          Create the grant
        </button>
      </form>
    </section>
  );
}
