import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { useParams } from "react-router-dom";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { Field } from "../ui/Field";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { TableWrap } from "../ui/TableWrap";
import { can, useSession } from "../session";
import "./portal.css";

type PortalUser = Schemas["PortalUser"];
type Role = Schemas["PortalRole"];
type Link = Schemas["DeploymentLink"];

const roles: Role[] = ["Admin", "User", "Viewer"];
const roleHelp: Record<Role, string> = {
  Admin: "manages the deployment's settings and portal users; console-admin and signer in the console",
  User: "signer in the console",
  Viewer: "reads the portal users; console-viewer in the console",
};

// explain turns the API's refusal of a change to a user into what the Admin should know.
function explain(error: unknown, response: Response): Shown {
  const p = show(error, response);
  if (response.status === 409) {
    p.title = "A deployment keeps at least one active Admin";
    // The API's detail says why (the last active Admin, or the Signum Administrator, who stays
    // one); without one, the rule is said here.
    p.detail ??= "Make another user an active Admin first, then change or remove this one.";
  } else if (response.status === 412) {
    p.title = "This user changed since you loaded the list";
    p.detail = "Your change was not made. The list has been reloaded: check the user and try again.";
  }
  return p;
}

// PortalUsers lists the deployment's portal users; a portal Admin invites users (a deployment
// link, shown once), changes their role or status, lifts lockouts and removes them.
export function PortalUsers() {
  const { id = "" } = useParams();
  const { session } = useSession();
  const admin = can(session, "Admin");
  const [users, setUsers] = useState<PortalUser[] | null>(null);
  const [next, setNext] = useState<string | undefined>();
  const [loadProblem, setLoadProblem] = useState<Shown | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const [pendingRole, setPendingRole] = useState<Record<string, Role>>({});
  const [removing, setRemoving] = useState<PortalUser | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);

  const load = useCallback(
    async (cursor?: string) => {
      const { data, error, response } = await api.GET("/portal/deployments/{id}/users", {
        params: { path: { id }, query: cursor ? { cursor } : {} },
      });
      if (!data) {
        setLoadProblem(show(error, response));
        return;
      }
      setLoadProblem(null);
      setUsers((old) => (cursor && old ? [...old, ...data.items] : data.items));
      setNext(data.next);
    },
    [id],
  );

  useEffect(() => {
    void load();
  }, [load]);

  async function change(u: PortalUser, body: Schemas["PortalUserPatch"], what: string) {
    setBusy(true);
    setProblem(null);
    setDone("");
    const { data, error, response } = await api.PATCH("/portal/deployments/{id}/users/{userId}", {
      params: { path: { id, userId: u.id }, header: { "If-Match": `"${u.version}"` } },
      body,
    });
    setBusy(false);
    if (!data) {
      setProblem(explain(error, response));
      if (response.status === 412) await load();
      return;
    }
    setUsers((old) => old?.map((x) => (x.id === data.id ? data : x)) ?? null);
    setPendingRole((p) => {
      const { [u.id]: _, ...rest } = p;
      return rest;
    });
    setDone(`${u.email}: ${what}.`);
  }

  function askRemove(u: PortalUser) {
    setRemoving(u);
    dialog.current?.showModal();
  }

  async function remove() {
    const u = removing;
    dialog.current?.close();
    setRemoving(null);
    if (!u) return;
    setBusy(true);
    setProblem(null);
    setDone("");
    const { error, response } = await api.DELETE("/portal/deployments/{id}/users/{userId}", {
      params: { path: { id, userId: u.id } },
    });
    setBusy(false);
    if (!response.ok) {
      setProblem(explain(error, response));
      if (response.status === 412) await load();
      return;
    }
    setUsers((old) => old?.filter((x) => x.id !== u.id) ?? null);
    setDone(`${u.email} was removed; the address can register again with a new invitation.`);
  }

  return (
    <Page title="Portal users">
      {loadProblem?.status === 403 ? (
        <Forbidden what="listing this deployment's portal users (portal Admins and Viewers may)" />
      ) : loadProblem ? (
        <ProblemBox problem={loadProblem} />
      ) : users === null ? (
        <p role="status">Loading the portal users…</p>
      ) : (
        <>
          {!admin && <p className="notice">Only a portal Admin can invite, change or remove portal users.</p>}
          <ProblemBox problem={problem} />
          <p role="status">{done}</p>
          <TableWrap label="Portal users" caption="Portal users of this deployment">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Locked</th>
                <th scope="col">Signum Administrator</th>
                {admin && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {users.map((u) => {
                const me = u.email === session?.name;
                const role = pendingRole[u.id] ?? u.role;
                return (
                  <tr key={u.id}>
                    <th scope="row">
                      {u.email}
                      {me && " (you)"}
                      {u.name && <span className="hint block">{u.name}</span>}
                    </th>
                    <td>
                      {admin ? (
                        <div className="row">
                          <label className="sr-only" htmlFor={`role-${u.id}`}>
                            Role of {u.email}
                          </label>
                          <select
                            id={`role-${u.id}`}
                            className="narrow"
                            value={role}
                            disabled={busy}
                            onChange={(e) => setPendingRole((p) => ({ ...p, [u.id]: e.target.value as Role }))}
                          >
                            {roles.map((r) => (
                              <option key={r}>{r}</option>
                            ))}
                          </select>
                          {role !== u.role && (
                            <button type="button" disabled={busy} onClick={() => change(u, { role }, `role changed to ${role}`)}>
                              Save<span className="sr-only"> role of {u.email}</span>
                            </button>
                          )}
                        </div>
                      ) : (
                        u.role
                      )}
                    </td>
                    <td className={u.status === "active" ? "status-active" : "status-bad"}>{u.status}</td>
                    <td className={u.locked ? "status-bad" : undefined}>{u.locked ? "Locked" : "No"}</td>
                    <td>{u.signumAdministrator ? "Yes" : "No"}</td>
                    {admin && (
                      <td>
                        <div className="row">
                          {u.status === "active" ? (
                            <button type="button" className="secondary" disabled={busy} onClick={() => change(u, { status: "disabled" }, "disabled; its sessions have ended")}>
                              Disable<span className="sr-only"> {u.email}</span>
                            </button>
                          ) : (
                            <button type="button" className="secondary" disabled={busy} onClick={() => change(u, { status: "active" }, "enabled again")}>
                              Enable<span className="sr-only"> {u.email}</span>
                            </button>
                          )}
                          {u.locked && (
                            <button type="button" className="secondary" disabled={busy} onClick={() => change(u, { unlock: true }, "unlocked")}>
                              Unlock<span className="sr-only"> {u.email}</span>
                            </button>
                          )}
                          <button type="button" className="danger" disabled={busy} onClick={() => askRemove(u)}>
                            Remove<span className="sr-only"> {u.email}</span>
                          </button>
                        </div>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </TableWrap>
          {next && (
            <p>
              <button type="button" className="secondary" onClick={() => load(next)}>
                Show more users
              </button>
            </p>
          )}
          <p className="hint">
            A change of role or status ends that user's portal and console sessions. A user locked after five failed logins
            is unlocked after 15 minutes, or at once by an Admin.
          </p>
        </>
      )}

      <dialog ref={dialog} aria-labelledby="remove-title" onClose={() => setRemoving(null)}>
        <h2 id="remove-title">Remove {removing?.email}?</h2>
        <p>
          The user can no longer log in to the portal or open the console. The e-mail address can register again with a new
          invitation.
        </p>
        <div className="row">
          <button type="button" className="danger" onClick={remove}>
            Remove the user
          </button>
          <button type="button" className="secondary" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
        </div>
      </dialog>

      {admin && <Invite id={id} />}
    </Page>
  );
}

// Invite creates a deployment link and shows its URL once: the service keeps only its hash.
function Invite({ id }: { id: string }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("Viewer");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [link, setLink] = useState<Link | null>(null);
  const [copied, setCopied] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    setLink(null);
    setCopied("");
    const { data, error, response } = await api.POST("/portal/deployments/{id}/users", {
      params: { path: { id } },
      body: email.trim() ? { role, email: email.trim() } : { role },
    });
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setLink(data);
    setEmail("");
  }

  const url = link ? `${window.location.origin}/app/portal/register?token=${encodeURIComponent(link.token)}` : "";

  async function copy() {
    try {
      await navigator.clipboard.writeText(url);
      setCopied("The link is copied.");
    } catch {
      setCopied("The browser did not let the page copy: select the link and copy it yourself.");
    }
  }

  return (
    <>
      <h2>Invite a portal user</h2>
      <p>
        An invitation is a link, valid once for 7 days: whoever registers with it becomes a portal user with its role. Send
        it to the person yourself.
      </p>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <Field
          label="E-mail (optional)"
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={problem?.fields.email}
          hint="Only this address can register with the link. Leave empty to let anyone holding the link register."
        />
        <div className="field">
          <label htmlFor="invite-role">Role</label>
          <select id="invite-role" value={role} onChange={(e) => setRole(e.target.value as Role)} aria-describedby="invite-role-hint">
            {roles.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
          <div id="invite-role-hint" className="hint">
            {role}: {roleHelp[role]}.
          </div>
          {problem?.fields.role && <div className="field-error">{problem.fields.role}</div>}
        </div>
        <div>
          <button type="submit" disabled={busy}>
            Create the invitation link
          </button>
        </div>
      </form>
      {link && (
        <div className="notice invite-link" role="status">
          <p>
            <strong>Invitation link for a {link.role}</strong>
            {link.email ? ` (only ${link.email} can register with it)` : ""}, valid until{" "}
            {new Date(link.expiresAt).toLocaleString()}. It is shown only now: copy it and send it to the person.
          </p>
          <div className="field">
            <label htmlFor="invite-url">Registration link</label>
            <input id="invite-url" readOnly value={url} className="mono" onFocus={(e) => e.target.select()} />
          </div>
          <div className="row">
            <button type="button" className="secondary" onClick={copy}>
              Copy the link
            </button>
            <span>{copied}</span>
          </div>
        </div>
      )}
    </>
  );
}
