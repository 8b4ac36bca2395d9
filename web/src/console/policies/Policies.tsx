import { useCallback, useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { api } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { may, useSession } from "../../session";
import { DryRun } from "./DryRun";
import { PolicyEditor, type Known } from "./PolicyEditor";
import { byPriority, summary, type Policy } from "./policyForm";
import "./policies.css";
import { groupNames, useGroups } from "../groups/GroupPicker";

// Policies lists the deployment's signing policies in the order they decide (highest priority
// first, Deny first at a tie), edits them (?edit=<id>, ?new=1, so the editor has an address),
// deletes them after a confirmation, and runs the dry-run of a signing request.
export function Policies() {
  const { session } = useSession();
  const admin = may(session, "policies", "manage");
  const [params, setParams] = useSearchParams();
  const editing = params.get("edit") ?? undefined;
  const creating = params.get("new") === "1";
  const [policies, setPolicies] = useState<Policy[] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [conflicts, setConflicts] = useState<string[]>([]);
  const [confirming, setConfirming] = useState<Policy | null>(null);
  const [deleteProblem, setDeleteProblem] = useState<Shown | null>(null);
  const [message, setMessage] = useState("");
  const [known, setKnown] = useState<Known>({ certificates: [], users: [] });
  const { groups } = useGroups();

  const load = useCallback(async () => {
    // A deployment holds at most 200 policies: read every page, to order them all.
    const all: Policy[] = [];
    let cursor: string | undefined;
    do {
      const { data, error, response } = await api.GET("/console/policies", { params: { query: { limit: 100, cursor } } });
      if (!data) {
        if (response?.status === 403) setForbidden(true);
        else setProblem(show(error, response));
        return;
      }
      all.push(...data.items);
      cursor = data.next ?? undefined;
    } while (cursor);
    setProblem(null);
    setPolicies(all.sort(byPriority));
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  // The certificates and users of the deployment, named in the editor's hints so that ids
  // need not be looked up elsewhere; the first page of each is enough for a hint.
  useEffect(() => {
    if (!admin) return;
    void Promise.all([api.GET("/console/certificates", { params: { query: { limit: 100 } } }), api.GET("/console/users", { params: { query: { limit: 100 } } })]).then(([c, u]) =>
      setKnown({
        certificates: (c.data?.items ?? []).map((x) => ({ id: x.id, name: x.name })),
        users: (u.data?.items ?? []).map((x) => ({ id: x.id, name: x.name || x.username })),
      }),
    );
  }, [admin]);

  // A link to a policy (#policy-<id>, from the events page or a refusal) shows its row once
  // the list has loaded.
  useEffect(() => {
    if (!policies || !window.location.hash.startsWith("#policy-")) return;
    const row = document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
    row?.scrollIntoView({ block: "center" });
    row?.focus();
  }, [policies]);

  const names = useMemo(() => Object.fromEntries((policies ?? []).map((p) => [p.id, p.name])), [policies]);

  function closeEditor() {
    setConflicts([]);
    setParams({});
  }

  async function remove(p: Policy) {
    const { error, response } = await api.DELETE("/console/policies/{policyId}", { params: { path: { policyId: p.id } } });
    if (!response.ok) {
      const shown = show(error, response);
      if (shown.status === 412) shown.detail = `${shown.detail ?? ""} Someone changed the policy since the list was read; the list is reloaded, check it and try again.`.trim();
      setDeleteProblem(shown);
      void load();
      return;
    }
    setConfirming(null);
    setDeleteProblem(null);
    setMessage(`Policy “${p.name}” was deleted.`);
    if (editing === p.id) closeEditor();
    void load();
  }

  if (forbidden) {
    return (
      <Page title="Policies">
        <Forbidden what="reading the signing policies" />
      </Page>
    );
  }

  return (
    <Page
      title="Policies"
      actions={
        admin && !creating ? (
          <button type="button" onClick={() => setParams({ new: "1" })}>
            New policy
          </button>
        ) : undefined
      }
    >
      <p>
        Policies decide who may sign with which certificate, from which application and when. The enabled policy of highest priority that matches a request decides; at equal
        priority a Deny wins. With no matching policy only the certificate's owner holding the signer role may sign.
      </p>
      {!admin && <p className="notice">Your role can read policies and run the dry run, but not change policies.</p>}
      <ProblemBox problem={problem} />
      <div role="status">{message}</div>

      {admin && (creating || editing) && (
        <PolicyEditor
          key={editing ?? "new"}
          policyId={editing}
          known={known}
          names={names}
          onCancel={closeEditor}
          onConflict={setConflicts}
          onSaved={(p) => {
            setMessage(`Policy “${p.name}” was ${editing ? "saved" : "created"}.`);
            closeEditor();
            void load();
          }}
        />
      )}

      <h2>Policies in the order they decide</h2>
      {policies === null && !problem && <p role="status">Loading the policies…</p>}
      {policies && policies.length === 0 && <p>There are no policies: only certificate owners holding the signer role can sign.</p>}
      {policies && policies.length > 0 && (
        <TableWrap label="Signing policies" className="policies" caption="Signing policies, highest priority first">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Enabled</th>
              <th scope="col">Action</th>
              <th scope="col">Priority</th>
              <th scope="col">What</th>
              <th scope="col">Who</th>
              <th scope="col">Where</th>
              <th scope="col">When</th>
              {admin && <th scope="col">Change</th>}
            </tr>
          </thead>
          <tbody>
            {policies.map((p) => {
              const s = summary(p, (id) => groupNames([id], groups));
              const conflict = conflicts.includes(p.id);
              return (
                <tr key={p.id} id={`policy-${p.id}`} tabIndex={-1} className={[conflict ? "conflict" : "", editing === p.id ? "current" : ""].join(" ").trim() || undefined}>
                  <th scope="row">
                    {p.name}
                    <div className="mono hint">{p.id}</div>
                    {conflict && <div className="conflict-note">Conflicts with the policy you are saving: same priority, opposite action.</div>}
                  </th>
                  <td className={p.enabled ? "status-active" : "status-bad"}>{p.enabled ? "Enabled" : "Disabled"}</td>
                  <td>{p.action === "allow" ? "Allow" : "Deny"}</td>
                  <td>{p.priority}</td>
                  <td className="mono">{s.what}</td>
                  <td className="mono">{s.who}</td>
                  <td className="mono">{s.where}</td>
                  <td>{s.when}</td>
                  {admin && (
                    <td>
                      <div className="row">
                        <button type="button" className="secondary" onClick={() => setParams({ edit: p.id })} aria-label={`Edit ${p.name}`}>
                          Edit
                        </button>
                        <button
                          type="button"
                          className="danger"
                          onClick={() => {
                            setDeleteProblem(null);
                            setConfirming(p);
                          }}
                          aria-label={`Delete ${p.name}`}
                        >
                          Delete
                        </button>
                      </div>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </TableWrap>
      )}

      {confirming && (
        <div role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text" className="confirm">
          <h2 id="confirm-title">Delete the policy “{confirming.name}”?</h2>
          <p id="confirm-text">
            From then on it no longer takes part in decisions. This cannot be undone{confirming.id === "pol_default" ? "; without the default policy, portal Admins and Users can sign only with certificates they own" : ""}.
          </p>
          <ProblemBox problem={deleteProblem} />
          <div className="row">
            <button type="button" className="danger" autoFocus onClick={() => void remove(confirming)}>
              Delete the policy
            </button>
            <button type="button" className="secondary" onClick={() => setConfirming(null)}>
              Keep it
            </button>
          </div>
        </div>
      )}

      <DryRun names={names} />
    </Page>
  );
}
