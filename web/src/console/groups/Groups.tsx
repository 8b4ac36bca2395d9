import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "../../api/client";
import { allGroups } from "./GroupPicker";
import { show, type Shown } from "../../api/problem";
import { ConfirmDelete } from "../../ui/ConfirmDelete";
import { Field } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { can, useSession } from "../../session";

type Group = Schemas["CertificateGroup"];

// limitOf reads a limit field: empty is no limit (0 for the API).
export function limitOf(s: string): number | null {
  const t = s.trim();
  if (t === "") return 0;
  const n = Number(t);
  return Number.isInteger(n) && n >= 0 && n <= 100000 ? n : null;
}

// Groups lists the deployment's certificate groups (which certificates a role's users may see
// and assign to policies); the Signum Administrator alone creates, renames and deletes them.
export function Groups() {
  const { session } = useSession();
  const admin = can(session, "signum-administrator");
  const [groups, setGroups] = useState<Group[] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [notice, setNotice] = useState("");

  const load = useCallback(async () => {
    const r = await allGroups();
    if ("problem" in r) {
      if (r.status === 403) setForbidden(true);
      else setProblem(r.problem);
      return;
    }
    setGroups(r.groups);
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  if (forbidden) {
    return (
      <Page title="Certificate groups">
        <Forbidden what="reading the certificate groups" />
      </Page>
    );
  }
  return (
    <Page title="Certificate groups">
      <p>
        A certificate group decides which certificates a role's users may see and assign to policies. Only the Signum
        Administrator creates, renames and deletes groups; a group can be deleted only when no certificate is in it.
      </p>
      <div role="status">{notice && <p className="notice">{notice}</p>}</div>
      <ProblemBox problem={problem} />
      {groups === null && !problem && <p role="status">Loading the groups…</p>}
      {groups && groups.length === 0 && <p>There is no group yet.</p>}
      {groups && groups.length > 0 && (
        <TableWrap label="Certificate groups" caption="Certificate groups">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Certificates</th>
              <th scope="col">Limit</th>
              {admin && <th scope="col">Change</th>}
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <GroupRow key={g.id} group={g} admin={admin} onDone={(msg) => { setNotice(msg); void load(); }} />
            ))}
          </tbody>
        </TableWrap>
      )}
      {admin ? <CreateGroup onDone={(msg) => { setNotice(msg); void load(); }} /> : <p className="notice">Only the Signum Administrator can change groups.</p>}
    </Page>
  );
}

function CreateGroup({ onDone }: { onDone(msg: string): void }) {
  const [name, setName] = useState("");
  const [limit, setLimit] = useState("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    const certificateLimit = limitOf(limit);
    if (certificateLimit === null) {
      setProblem({ title: "Check the limit", fields: { certificateLimit: "a whole number from 0 (no limit) to 100000" } });
      return;
    }
    setBusy(true);
    const { data, error, response } = await api.POST("/console/certificate-groups", { body: { name, certificateLimit } });
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setName("");
    setLimit("");
    onDone(`Group “${data.name}” was created.`);
  }
  return (
    <section aria-labelledby="create-group">
      <h2 id="create-group">Create a group</h2>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <Field label="Group name" required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} error={problem?.fields.name} />
        <Field label="Certificate limit" inputMode="numeric" value={limit} onChange={(e) => setLimit(e.target.value)} hint="Empty for no limit." error={problem?.fields.certificateLimit} />
        <button type="submit" disabled={busy}>
          Create group
        </button>
      </form>
    </section>
  );
}

function GroupRow({ group, admin, onDone }: { group: Group; admin: boolean; onDone(msg: string): void }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(group.name);
  const [limit, setLimit] = useState(group.certificateLimit ? String(group.certificateLimit) : "");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);

  async function save(e: FormEvent) {
    e.preventDefault();
    const certificateLimit = limitOf(limit);
    if (certificateLimit === null) {
      setProblem({ title: "Check the limit", fields: { certificateLimit: "a whole number from 0 (no limit) to 100000" } });
      return;
    }
    setBusy(true);
    const { data, error, response } = await api.PATCH("/console/certificate-groups/{groupId}", {
      params: { path: { groupId: group.id }, header: { "If-Match": `"${group.version}"` } },
      body: { name, certificateLimit },
    });
    setBusy(false);
    if (!data) {
      const p = show(error, response);
      if (response.status === 412) p.detail = "Someone changed this group since the page loaded it. Reload the page and make your change again.";
      setProblem(p);
      return;
    }
    setEditing(false);
    onDone(`Group “${data.name}” was saved.`);
  }

  async function remove() {
    setBusy(true);
    const { error, response } = await api.DELETE("/console/certificate-groups/{groupId}", { params: { path: { groupId: group.id } } });
    setBusy(false);
    if (!response.ok) {
      setProblem(show(error, response));
      return;
    }
    onDone(`Group “${group.name}” was deleted.`);
  }

  return (
    <tr>
      <th scope="row">{group.name}</th>
      <td className="mono">{group.id}</td>
      <td>{group.certificateCount}</td>
      <td>{group.certificateLimit ?? "none"}</td>
      {admin && (
        <td>
          <ProblemBox problem={problem} />
          {editing ? (
            <form onSubmit={save} className="form">
              <Field label={`New name of ${group.name}`} required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} error={problem?.fields.name} />
              <Field label={`Certificate limit of ${group.name}`} inputMode="numeric" value={limit} onChange={(e) => setLimit(e.target.value)} hint="Empty for no limit." error={problem?.fields.certificateLimit} />
              <div className="row">
                <button type="submit" disabled={busy}>
                  Save
                </button>
                <button type="button" className="secondary" onClick={() => setEditing(false)}>
                  Cancel
                </button>
              </div>
            </form>
          ) : (
            <div className="row">
              <button type="button" className="secondary" onClick={() => setEditing(true)}>
                Edit {group.name}
              </button>
              <ConfirmDelete
                what="this group"
                name={group.name}
                buttonLabel={`Delete ${group.name}`}
                busy={busy}
                consequence={<p>The group goes; it must hold no certificate (the service refuses otherwise and says which).</p>}
                onConfirm={remove}
              />
            </div>
          )}
        </td>
      )}
    </tr>
  );
}
