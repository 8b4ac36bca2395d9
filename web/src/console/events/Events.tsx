import { useCallback, useEffect, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { download } from "../../ui/download";
import { Field, SelectField } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { Pager, useCursorPages } from "../../ui/Pager";
import { joinPages, lanes, noFilters, toQuery, utc, type EventQuery, type Filters } from "./eventQuery";
import "./events.css";

type Event = Schemas["Event"];
const pageSize = 50;

// Events shows the signing-event log, oldest first, filtered as the API filters it, a page at
// a time (the API's cursor; earlier pages are remembered to go back), exports it whole as CSV
// or JSON lines through the API's own export, and checks the hash chains.
export function Events() {
  const [form, setForm] = useState<Filters>(noFilters);
  const [query, setQuery] = useState<EventQuery>({});
  const pages = useCursorPages();
  const [page, setPage] = useState<{ items: Event[]; next?: string } | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);

  const load = useCallback(async (q: EventQuery, cursor: string | undefined) => {
    setPage(null);
    const { data, error, response } = await api.GET("/console/events", { params: { query: { ...q, limit: pageSize, cursor } } });
    // Without format the answer is JSON (an EventPage); the other forms are for the export.
    if (!data || typeof data === "string") {
      if (response?.status === 403) setForbidden(true);
      else setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setPage({ items: data.items, next: data.next ?? undefined });
  }, []);

  useEffect(() => {
    void load({}, undefined);
  }, [load]);

  function apply(e: FormEvent) {
    e.preventDefault();
    const q = toQuery(form);
    setQuery(q);
    pages.reset();
    void load(q, undefined);
  }

  if (forbidden) {
    return (
      <Page title="Signing events">
        <Forbidden what="reading the signing events" />
      </Page>
    );
  }

  const set = (patch: Partial<Filters>) => setForm({ ...form, ...patch });
  return (
    <Page title="Signing events">
      <p>Every decision on a signing request (allowed or denied, one per request, listing its digests) and what became of each allowed request, oldest first.</p>
      <form onSubmit={apply} className="filters" aria-label="Filter the events">
        <Field label="From (your local time)" type="datetime-local" step="1" value={form.from} error={problem?.fields.from} onChange={(e) => set({ from: e.target.value })} />
        <Field label="To (your local time)" type="datetime-local" step="1" value={form.to} error={problem?.fields.to} onChange={(e) => set({ to: e.target.value })} />
        <Field label="User id" placeholder="cu_… or pu_…" value={form.userId} error={problem?.fields.userId} onChange={(e) => set({ userId: e.target.value })} />
        <Field label="Certificate id" placeholder="crt_…" value={form.certificateId} error={problem?.fields.certificateId} onChange={(e) => set({ certificateId: e.target.value })} />
        <SelectField label="Decision" value={form.decision} error={problem?.fields.decision} onChange={(e) => set({ decision: e.target.value as Filters["decision"] })}>
          <option value="">Any (completions too)</option>
          <option value="allow">Allowed</option>
          <option value="deny">Denied</option>
          <option value="pending">Held for approval</option>
        </SelectField>
        <div className="row actions">
          <button type="submit">Show the events</button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setForm(noFilters);
              setQuery({});
              pages.reset();
              void load({}, undefined);
            }}
          >
            Clear the filters
          </button>
        </div>
      </form>
      <ProblemBox problem={problem} />
      <Export query={query} />

      <h2>Events</h2>
      {page === null && !problem && <p role="status">Loading the events…</p>}
      {page && page.items.length === 0 && <p role="status">No event matches these filters.</p>}
      {page && page.items.length > 0 && (
        <>
          <p role="status">
            Page {pages.index + 1}: {page.items.length} event{page.items.length === 1 ? "" : "s"}
            {page.next ? "; there are more." : "."}
          </p>
          <TableWrap label="Signing events" className="events" caption="Signing events, oldest first">
            <thead>
              <tr>
                <th scope="col">When (UTC)</th>
                <th scope="col">Kind</th>
                <th scope="col">Result</th>
                <th scope="col">User</th>
                <th scope="col">Certificate</th>
                <th scope="col">Policy</th>
                <th scope="col">Application and file</th>
                <th scope="col">Reason</th>
                <th scope="col">Lane · seq</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((e) => (
                <tr key={e.id} id={e.id}>
                  <th scope="row" className="mono">
                    {utc(e.at)}
                  </th>
                  <td>{e.kind === "decision" ? "Decision" : e.kind === "approval" ? "Approval" : "Completion"}</td>
                  <td className={e.decision === "deny" || e.outcome === "failed" ? "status-bad" : "status-active"}>{result(e)}</td>
                  <td className="mono">
                    {e.userId}
                    {e.workload && <div className="hint">{ciJob(e.workload)}</div>}
                  </td>
                  <td className="mono">{e.certificateId && <Link to={`/console/certificates/${e.certificateId}`}>{e.certificateId}</Link>}</td>
                  <td className="mono">{e.policyId && <Link to={`/console/policies#policy-${e.policyId}`}>{e.policyId}</Link>}</td>
                  <td>
                    {e.process && <div className="mono">{e.process}</div>}
                    {e.fileName && <div className="mono">{e.fileName}</div>}
                    {e.files && e.files.some(Boolean) && (
                      <details>
                        <summary>{e.files.length} files</summary>
                        <ul className="mono">
                          {e.files.map((f, i) => (
                            <li key={i}>{f || "(no name)"}</li>
                          ))}
                        </ul>
                      </details>
                    )}
                    {e.contextEvent && <div className="hint">context in {e.contextEvent}</div>}
                  </td>
                  <td>{e.reason ?? (e.of ? <span className="hint">of {e.of.split(",").length} decision(s)</span> : null)}</td>
                  <td className="mono">
                    {e.lane} · {e.seq}
                  </td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
        </>
      )}
      {page && <Pager pages={pages} next={page.next} label="Pages of events" onGo={(cursor) => void load(query, cursor)} />}
      <Verify />
    </Page>
  );
}

function result(e: Event) {
  if (e.kind === "decision") {
    const n = e.digestCount && e.digestCount > 1 ? ` (${e.digestCount} digests)` : "";
    return (e.decision === "allow" ? "Allowed" : e.decision === "pending" ? "Held for approval" : "Denied") + n;
  }
  if (e.kind === "approval") return e.outcome === "approve" ? "Approved" : "Rejected";
  return e.outcome === "signed" ? "Signed" : "Failed";
}

// Export downloads every event matching the filters through the API's own export
// (format=csv or jsonl), following X-Next-Cursor page by page, as one file.
function Export({ query }: { query: EventQuery }) {
  const [busy, setBusy] = useState<"" | "csv" | "jsonl">("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [done, setDone] = useState("");

  async function run(format: "csv" | "jsonl") {
    setBusy(format);
    setDone("");
    setProblem(null);
    const pages: string[] = [];
    let cursor: string | undefined;
    do {
      const { data, error, response } = await api.GET("/console/events", { params: { query: { ...query, format, limit: 100, cursor } }, parseAs: "text" });
      if (data === undefined) {
        // With parseAs text a problem arrives as text: parse it to show it.
        let parsed: unknown = error;
        try {
          parsed = typeof error === "string" ? JSON.parse(error) : error;
        } catch {
          /* not JSON: show says what the status was */
        }
        setProblem(show(parsed, response));
        setBusy("");
        return;
      }
      pages.push(data);
      setDone(`Read ${pages.length} page${pages.length === 1 ? "" : "s"}…`);
      cursor = response.headers.get("X-Next-Cursor") ?? undefined;
    } while (cursor);
    const text = joinPages(format, pages);
    download(text, `signing-events-${new Date().toISOString().replace(/[:.]/g, "-")}.${format}`, format === "csv" ? "text/csv;charset=utf-8" : "application/jsonl");
    const lines = text.split("\n").filter(Boolean).length - (format === "csv" ? 1 : 0);
    setDone(`Downloaded ${lines} event${lines === 1 ? "" : "s"} as ${format === "csv" ? "CSV" : "JSON lines"} (${pages.length} page${pages.length === 1 ? "" : "s"} of the API's export).`);
    setBusy("");
  }

  return (
    <section aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <p className="hint">
        Every event matching the filters above, as the API exports them. The CSV leaves out deploymentId and prevHash and guards cells against spreadsheet formulas; JSON lines keeps
        every field exactly, to check the chains offline with signum events verify.
      </p>
      <div className="row">
        <button type="button" className="secondary" disabled={busy !== ""} onClick={() => void run("csv")}>
          Export as CSV
        </button>
        <button type="button" className="secondary" disabled={busy !== ""} onClick={() => void run("jsonl")}>
          Export as JSON lines
        </button>
      </div>
      <ProblemBox problem={problem} />
      <p role="status">{done}</p>
    </section>
  );
}

// Verify runs GET /console/events/verify, which reads each lane from where the last check
// found it intact, and shows its answer, lane by lane; FullCheck below checks every event.
function Verify() {
  const [busy, setBusy] = useState(false);
  const [v, setV] = useState<Schemas["EventVerification"] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);

  async function run() {
    setBusy(true);
    setV(null);
    const { data, error, response } = await api.GET("/console/events/verify");
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setV(data);
  }

  return (
    <section aria-labelledby="verify-title">
      <h2 id="verify-title">Hash chains</h2>
      <p className="hint">
        The log is 8 hash chains (lanes). The check reads each lane from where the last check found it intact under its signed checkpoint (the first check reads every event), and
        compares each lane with its sealed checkpoint and its anchors; it changes nothing but where the next check starts. The full check below reads every event again.
      </p>
      <button type="button" disabled={busy} onClick={() => void run()}>
        {busy ? "Checking the chains…" : "Check the chains"}
      </button>
      <ProblemBox problem={problem} />
      <div role="status" aria-live="polite">
        {v && (
          <div className={v.intact ? "verdict intact" : "verdict broken"}>
            <p>
              <strong>{v.intact ? "Verified: every chain is whole." : `Not intact: ${v.problems.length} problem${v.problems.length === 1 ? "" : "s"} found.`}</strong> {v.eventsChecked} event
              {v.eventsChecked === 1 ? "" : "s"} checked
              {v.anchorsChecked === true ? "; each lane compared with its anchors outside the table" : v.anchorsChecked === false ? "; the anchors outside the table were not compared" : ""}.
            </p>
            {v.checkpointKey && (
              <p>
                Seals checked against key <span className="mono">{v.checkpointKey.keyId}</span>.
              </p>
            )}
          </div>
        )}
      </div>
      {v && (
        <TableWrap label="The chain check, lane by lane" className="lanes" caption="The check, lane by lane">
          <thead>
            <tr>
              <th scope="col">Lane</th>
              <th scope="col">Read</th>
              <th scope="col">Result</th>
              <th scope="col">What is wrong</th>
            </tr>
          </thead>
          <tbody>
            {lanes(v).map((l) => (
              <tr key={l.lane}>
                <th scope="row">{l.lane}</th>
                <td>{readFrom(v.checkedAfter?.[l.lane])}</td>
                <LaneResult problems={l.problems} />
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
      <FullCheck />
    </section>
  );
}

// readFrom says where a lane's check began.
function readFrom(after: number | undefined) {
  if (after === undefined) return "—";
  return after === 0 ? "Whole lane" : `After event ${after}`;
}

function LaneResult({ problems }: { problems: Schemas["EventChainProblem"][] }) {
  return (
    <>
      <td className={problems.length ? "status-bad" : "status-active"}>{problems.length ? "Broken" : "Whole"}</td>
      <td>
        {problems.length === 0
          ? "—"
          : problems.map((p, i) => (
              <div key={i}>
                <strong>{p.kind}</strong> at seq {p.seq}: {p.detail}
              </div>
            ))}
      </td>
    </>
  );
}

type Check = Schemas["EventFullCheck"];

// FullCheck starts a check of every event (POST /console/events/full-check), which runs in
// the background, and follows its progress (GET, every 2 seconds while it runs); it shows the
// last one's result when the page opens.
function FullCheck() {
  const [c, setC] = useState<Check | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Shown | null>(null);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/console/events/full-check");
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setC(data.state === "none" ? null : data);
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const running = c?.state === "running";
  useEffect(() => {
    if (!running) return;
    const t = window.setInterval(() => void load(), 2000);
    return () => window.clearInterval(t);
  }, [running, load]);

  async function start() {
    setBusy(true);
    const { data, error, response } = await api.POST("/console/events/full-check");
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setC(data);
  }

  return (
    <>
      <h3 id="full-check-title">Full check</h3>
      <p className="hint">Reads every event of every lane again, in the background, a page at a time: what finds a change to events an earlier check had found intact.</p>
      <button type="button" className="secondary" disabled={busy || running} onClick={() => void start()}>
        {running ? "Full check running…" : "Check every event"}
      </button>
      <ProblemBox problem={problem} />
      <div role="status" aria-live="polite" aria-labelledby="full-check-title">
        {c && (
          <div className={c.state === "running" ? "verdict" : c.intact ? "verdict intact" : "verdict broken"}>
            <p>
              <strong>
                {c.state === "running"
                  ? `Running: ${c.lanesDone} of ${c.lanes} lanes checked.`
                  : c.intact
                    ? "Verified in full: every chain is whole."
                    : `Not intact: ${c.problemCount} problem${c.problemCount === 1 ? "" : "s"} found.`}
              </strong>{" "}
              {c.eventsChecked} event{c.eventsChecked === 1 ? "" : "s"} checked
              {c.startedAt ? `; started ${utc(c.startedAt)} UTC by ${c.requestedBy ?? "?"}` : ""}
              {c.finishedAt ? `, finished ${utc(c.finishedAt)} UTC` : ""}.
            </p>
          </div>
        )}
      </div>
      {c && c.problems.length > 0 && (
        <TableWrap label="The full check's problems, lane by lane" className="lanes" caption="What the full check found">
          <thead>
            <tr>
              <th scope="col">Lane</th>
              <th scope="col">Result</th>
              <th scope="col">What is wrong</th>
            </tr>
          </thead>
          <tbody>
            {lanes(c)
              .filter((l) => l.problems.length > 0)
              .map((l) => (
                <tr key={l.lane}>
                  <th scope="row">{l.lane}</th>
                  <LaneResult problems={l.problems} />
                </tr>
              ))}
          </tbody>
        </TableWrap>
      )}
    </>
  );
}

// ciJob says which CI job a signing event came from, by the claims its workload token carried
// (repository, ref, workflow, run), as verified at the exchange.
export function ciJob(w: Record<string, string>): string {
  const where = [w.repository, w.ref].filter(Boolean).join(" @ ");
  const how = [w.workflow && `workflow ${w.workflow}`, w.run_id && `run ${w.run_id}`, w.environment && `environment ${w.environment}`].filter(Boolean).join(", ");
  return `CI job ${where || w.sub || "?"}${how ? ` (${how})` : ""}`;
}
