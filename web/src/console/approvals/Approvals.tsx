import { useCallback, useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { SelectField, TextAreaField } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { Pager, useCursorPages } from "../../ui/Pager";
import "./approvals.css";

type Held = Schemas["ApprovalRequest"];
type Status = Schemas["HeldStatus"];
const pageSize = 50;

const statusText: Record<Status, string> = {
  pending: "Waiting for approval",
  approved: "Approved (signs when fetched)",
  signed: "Signed",
  rejected: "Rejected",
  expired: "Expired",
  failed: "Not signed",
};

function utc(t: string) {
  return t.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
}

function files(h: Held): string {
  const names = h.digests.map((d) => d.fileName).filter(Boolean) as string[];
  if (names.length === 0) return h.fileName ?? `${h.digests.length} digest${h.digests.length === 1 ? "" : "s"}`;
  return names.length <= 3 ? names.join(", ") : `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;
}

function approvals(h: Held): number {
  return h.answers.filter((a) => a.answer === "approve").length;
}

// Approvals lists the signing requests held for approval that the caller may answer (or made),
// waiting ones first by default; each opens on its own page to be approved or rejected.
export function Approvals() {
  const [status, setStatus] = useState<Status | "">("pending");
  const pages = useCursorPages();
  const [page, setPage] = useState<{ items: Held[]; next?: string } | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);

  const load = useCallback(async (s: Status | "", cursor: string | undefined) => {
    setPage(null);
    const { data, error, response } = await api.GET("/console/approvals", { params: { query: { status: s || undefined, limit: pageSize, cursor } } });
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setPage({ items: data.items, next: data.next ?? undefined });
  }, []);

  useEffect(() => {
    void load("pending", undefined);
  }, [load]);

  return (
    <Page title="Approvals">
      <p>
        Signing requests whose policy requires approval wait here until enough approvers approve them. You see the requests you may approve and the
        ones you made; nobody approves their own request.
      </p>
      <div className="filters">
        <SelectField
          label="Show"
          value={status}
          onChange={(e) => {
            const s = e.target.value as Status | "";
            setStatus(s);
            pages.reset();
            void load(s, undefined);
          }}
        >
          <option value="pending">Waiting for approval</option>
          <option value="">All</option>
          <option value="approved">Approved</option>
          <option value="signed">Signed</option>
          <option value="rejected">Rejected</option>
          <option value="expired">Expired</option>
          <option value="failed">Not signed</option>
        </SelectField>
      </div>
      <ProblemBox problem={problem} />
      {page === null && !problem && <p role="status">Loading the requests…</p>}
      {page && page.items.length === 0 && <p role="status">No signing request is waiting for you.</p>}
      {page && page.items.length > 0 && (
        <TableWrap label="Signing requests held for approval" className="approvals" caption="Signing requests held for approval">
          <thead>
            <tr>
              <th scope="col">Requested (UTC)</th>
              <th scope="col">By</th>
              <th scope="col">Certificate</th>
              <th scope="col">Files</th>
              <th scope="col">Process</th>
              <th scope="col">Approvals</th>
              <th scope="col">Expires (UTC)</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((h) => (
              <tr key={h.id}>
                <th scope="row" className="mono">
                  <Link to={`/console/approvals/${h.id}`} aria-label={`Review the request of ${h.requestedBy} for ${files(h)}`}>
                    {utc(h.createdAt)}
                  </Link>
                </th>
                <td className="mono">{h.requestedBy}</td>
                <td className="mono">
                  <Link to={`/console/certificates/${h.certificateId}`}>{h.certificateId}</Link>
                </td>
                <td className="mono">{files(h)}</td>
                <td className="mono">{h.process}</td>
                <td>
                  {approvals(h)} of {h.required}
                </td>
                <td className="mono">{utc(h.expiresAt)}</td>
                <td>
                  {statusText[h.status]}
                  {h.mayAnswer && <div className="hint">Waiting for you</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
      {page && <Pager pages={pages} next={page.next} label="Pages of requests" onGo={(cursor) => void load(status, cursor)} />}
    </Page>
  );
}

// ApprovalDetail shows one held request whole (who asks, the certificate, every file and
// digest, the process and command line, the CI claims) and takes the caller's answer.
export function ApprovalDetail() {
  const { requestId = "" } = useParams();
  const [held, setHeld] = useState<Held | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState("");

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/console/approvals/{requestId}", { params: { path: { requestId } } });
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setHeld(data);
  }, [requestId]);

  useEffect(() => {
    void load();
  }, [load]);

  async function answer(kind: "approve" | "reject") {
    setBusy(true);
    setDone("");
    const opts = { params: { path: { requestId } }, body: comment.trim() ? { comment: comment.trim() } : {} };
    const r = kind === "approve" ? await api.POST("/console/approvals/{requestId}/approve", opts) : await api.POST("/console/approvals/{requestId}/reject", opts);
    setBusy(false);
    if (!r.data) {
      setProblem(show(r.error, r.response));
      return;
    }
    setProblem(null);
    setHeld(r.data);
    setComment("");
    setDone(kind === "approve" ? `You approved the request: ${approvals(r.data)} of ${r.data.required} approvals.` : "You rejected the request: nothing will be signed.");
  }

  return (
    <Page title="Signing request" actions={<Link to="/console/approvals">All requests</Link>}>
      <ProblemBox problem={problem} />
      {done && (
        <p role="status" className="notice">
          {done}
        </p>
      )}
      {!held && !problem && <p role="status">Loading the request…</p>}
      {held && (
        <>
          <dl className="held">
            <dt>Status</dt>
            <dd>
              {statusText[held.status]}
              {held.reason && <div className="hint">{held.reason}</div>}
            </dd>
            <dt>Requested by</dt>
            <dd className="mono">
              {held.requestedBy}
              {held.clientIp && ` from ${held.clientIp}`}
            </dd>
            <dt>Requested (UTC)</dt>
            <dd className="mono">{utc(held.createdAt)}</dd>
            <dt>Expires (UTC)</dt>
            <dd className="mono">{utc(held.expiresAt)}</dd>
            <dt>Certificate</dt>
            <dd className="mono">
              <Link to={`/console/certificates/${held.certificateId}`}>{held.certificateId}</Link>
            </dd>
            <dt>Policy</dt>
            <dd className="mono">
              <Link to={`/console/policies#policy-${held.policyId}`}>{held.policyId}</Link>
            </dd>
            <dt>Process</dt>
            <dd className="mono">{held.process || "(not reported)"}</dd>
            <dt>Command line</dt>
            <dd className="mono">{held.commandLine || "(not reported)"}</dd>
            {held.agentId && (
              <>
                <dt>Agent</dt>
                <dd className="mono">{held.agentId}</dd>
              </>
            )}
            <dt>CI (reported)</dt>
            <dd className="mono">{claims(held.ci)}</dd>
            {held.workload && (
              <>
                <dt>CI job (verified token)</dt>
                <dd className="mono">{claims(held.workload)}</dd>
              </>
            )}
            <dt>Approvals</dt>
            <dd>
              {approvals(held)} of {held.required}; approvers: {[...held.approvers.users, ...held.approvers.roles.map((r) => `role ${r}`)].join(", ")}
            </dd>
          </dl>
          <h2>Files and digests</h2>
          <TableWrap label="Files and digests" className="digests" caption="The digests the signer will sign, exactly">
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">Algorithm</th>
                <th scope="col">Digest (hex)</th>
              </tr>
            </thead>
            <tbody>
              {held.digests.map((d, i) => (
                <tr key={i}>
                  <th scope="row" className="mono">
                    {d.fileName || held.fileName || "(no name)"}
                  </th>
                  <td>{d.digestAlgorithm}</td>
                  <td className="mono digest">{d.digest}</td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
          <h2>Answers</h2>
          {held.answers.length === 0 ? (
            <p>Nobody has answered yet.</p>
          ) : (
            <ul className="answers">
              {held.answers.map((a) => (
                <li key={a.userId}>
                  <span className="mono">{a.userId}</span> {a.answer === "approve" ? "approved" : "rejected"} at <span className="mono">{utc(a.at)}</span>
                  {a.comment && <>: “{a.comment}”</>}
                </li>
              ))}
            </ul>
          )}
          {held.mayAnswer && (
            <form className="form" onSubmit={(e) => e.preventDefault()} aria-label="Your answer">
              <TextAreaField
                label="Comment (optional)"
                value={comment}
                maxLength={1000}
                error={problem?.fields.comment}
                hint="Recorded with your answer in the signing-event log."
                onChange={(e) => setComment(e.target.value)}
              />
              <div className="row">
                <button type="button" disabled={busy} onClick={() => void answer("approve")}>
                  Approve
                </button>
                <button type="button" className="danger" disabled={busy} onClick={() => void answer("reject")}>
                  Reject
                </button>
              </div>
            </form>
          )}
        </>
      )}
    </Page>
  );
}

function claims(m: Record<string, string> | undefined): string {
  if (!m || Object.keys(m).length === 0) return "(none)";
  return Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}
