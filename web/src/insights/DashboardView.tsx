import { lazy, Suspense, useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { show, type Shown } from "../api/problem";
import { download } from "../ui/download";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { TableWrap } from "../ui/TableWrap";
import { DataTable } from "./DataTable";
import { certificateColumns, countLabel, csvFilename, csvFilenameFor, meter, outcomeColumns, parseDays, ranges, type Dashboard, type Days, type LicenceUse } from "./dashboard";
import "./insights.css";

// LineChart is loaded with the first chart: uPlot is only needed on the dashboards, so the
// rest of the app does not carry it.
const LineChart = lazy(() => import("./Chart"));

// Chart is a LineChart once its module is there.
function Chart(props: React.ComponentProps<typeof LineChart>) {
  return (
    <Suspense fallback={<p role="status">Drawing the chart…</p>}>
      <LineChart {...props} />
    </Suspense>
  );
}

// Answer is what openapi-fetch gives for a request (as much as this page needs of it).
export interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

// DashboardView is the dashboard both faces show, from the API's Dashboard: totals, signatures
// per day by certificate and denials and failures per day as charts (each with its table),
// denials by reason, top users and agents, and licence use against the plan; a range of 7, 30
// or 90 days (kept in the address, so a range can be bookmarked) and a CSV download. load and
// loadCsv are the face's own requests; scope names the CSV file.
export function DashboardView({
  scope,
  load,
  loadCsv,
  scopedNote,
}: {
  scope: string;
  load: (days: Days) => Promise<Answer<Dashboard>>;
  loadCsv: (days: Days) => Promise<Answer<string>>;
  // scopedNote is said where the licence and the rankings are missing (a scoped console admin).
  scopedNote?: string;
}) {
  const [search, setSearch] = useSearchParams();
  // The range is the address's, held here too: the radio buttons are controlled, and the
  // router applies a new address a moment later, which would undo the click meanwhile.
  const asked = parseDays(search.get("days"));
  const [days, setDays] = useState<Days>(asked);
  useEffect(() => setDays(asked), [asked]);
  const [dash, setDash] = useState<Dashboard | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [reload, setReload] = useState(0);
  const [csvBusy, setCsvBusy] = useState(false);
  const [csvDone, setCsvDone] = useState("");
  const [csvProblem, setCsvProblem] = useState<Shown | null>(null);

  useEffect(() => {
    let live = true;
    setDash(null);
    setProblem(null);
    void load(days).then(({ data, error, response }) => {
      if (!live) return;
      if (data) setDash(data);
      else if (response?.status === 403) setForbidden(true);
      else setProblem(show(error, response));
    });
    return () => {
      live = false;
    };
  }, [days, load, reload]);

  function pick(d: Days) {
    setDays(d);
    const next = new URLSearchParams(search);
    next.set("days", String(d));
    setSearch(next, { replace: true });
  }

  async function saveCsv() {
    setCsvBusy(true);
    setCsvDone("");
    setCsvProblem(null);
    const { data, error, response } = await loadCsv(days);
    setCsvBusy(false);
    if (data === undefined) {
      // With parseAs text a problem arrives as text: parse it to show it.
      let parsed: unknown = error;
      try {
        parsed = typeof error === "string" ? JSON.parse(error) : error;
      } catch {
        /* not JSON: show says what the status was */
      }
      setCsvProblem(show(parsed, response));
      return;
    }
    const name = dash ? csvFilename(scope, dash) : csvFilenameFor(scope, days);
    download(data, name, "text/csv;charset=utf-8");
    const rows = Math.max(0, data.split("\n").filter(Boolean).length - 1);
    setCsvDone(`Downloaded ${name} (${rows} row${rows === 1 ? "" : "s"}).`);
  }

  const certs = useMemo(() => (dash ? certificateColumns(dash) : null), [dash]);
  const outcomes = useMemo(() => (dash ? outcomeColumns(dash) : null), [dash]);

  if (forbidden) {
    return (
      <Page title="Dashboard">
        <Forbidden what="reading the dashboard" />
      </Page>
    );
  }

  return (
    <Page title="Dashboard">
      <p>
        Signing in this deployment, day by day (UTC), from the counters the signer keeps as it signs. Counts are statistics; the signing-event log is the record.
      </p>
      <div className="dash-controls">
        <fieldset className="range">
          <legend>Days shown</legend>
          {ranges.map((r) => (
            <label key={r}>
              <input type="radio" name="dashboard-days" value={r} checked={days === r} onChange={() => pick(r)} />
              Last {r} days
            </label>
          ))}
        </fieldset>
        <div className="row">
          <button type="button" className="secondary" onClick={saveCsv} disabled={csvBusy}>
            {csvBusy ? "Preparing the CSV…" : `Download CSV (${days} days)`}
          </button>
          <button type="button" className="secondary" onClick={() => setReload((n) => n + 1)}>
            Refresh
          </button>
        </div>
      </div>
      <ProblemBox problem={csvProblem} />
      {csvDone && (
        <p role="status" className="hint">
          {csvDone}
        </p>
      )}
      <ProblemBox problem={problem} />
      {!dash && !problem && <p role="status">Loading the dashboard…</p>}
      {dash && certs && outcomes && (
        <>
          <h2>
            From <time dateTime={dash.from}>{dash.from}</time> to <time dateTime={dash.to}>{dash.to}</time>
          </h2>
          <dl className="facts totals">
            <dt>Signatures</dt>
            <dd>{dash.totals.signed.toLocaleString("en")}</dd>
            <dt>Failed requests</dt>
            <dd>{dash.totals.failed.toLocaleString("en")}</dd>
            <dt>Denied requests</dt>
            <dd>{dash.totals.denied.toLocaleString("en")}</dd>
          </dl>

          <h2>Signatures per day by certificate</h2>
          {certs.series.length === 0 ? (
            <p className="notice">No certificate signed anything in these days.</p>
          ) : (
            <>
              <Chart columns={certs} label={`Line chart of signatures per day for ${certs.series.length} certificate${certs.series.length === 1 ? "" : "s"}, ${dash.from} to ${dash.to}; the table below holds the same numbers`} yLabel="Signatures" />
              <DataTable columns={certs} title="Signatures per day by certificate" />
            </>
          )}

          <h2>Denials and failures per day</h2>
          <Chart columns={outcomes} label={`Line chart of denied and failed requests per day, ${dash.from} to ${dash.to}; the table below holds the same numbers`} yLabel="Requests" />
          <DataTable columns={outcomes} title="Denials and failures per day" />

          <h2>Denials by reason</h2>
          <Ranking items={dash.deniedBy} sentences what="Reason" label="Denials by reason" empty={scopedNote && !dash.licence ? scopedNote : "No request was denied in these days."} />
          <h2>Top users</h2>
          <Ranking items={dash.topUsers} what="User" label="Users who signed most" empty={scopedNote && !dash.licence ? scopedNote : "No signatures in these days."} />
          <h2>Top agents</h2>
          <Ranking items={dash.topAgents} what="Agent" label="Agents that signed most" empty={scopedNote && !dash.licence ? scopedNote : "No signatures in these days."} />

          <h2>Licence use</h2>
          {dash.licence ? (
            <>
              <p>
                Plan: <strong>{dash.licence.plan}</strong>
              </p>
              <ul className="meters">
                <Use id="licence-certificates" label="Certificates" use={dash.licence.certificates} />
                <Use id="licence-console-users" label="Console users" use={dash.licence.consoleUsers} />
                <Use id="licence-signatures" label="Signatures this month" use={dash.licence.signaturesThisMonth} />
              </ul>
            </>
          ) : (
            <p className="notice">{scopedNote ?? "Licence use is not shown to this role."}</p>
          )}
        </>
      )}
    </Page>
  );
}

// Ranking is a DashboardCount list as a table, each count with a bar against the largest (the
// bar is decoration: the number beside it is what a screen reader reads).
// sentences: the labels are the service's sentences (denial reasons), shown with a capital.
function Ranking({ items, what, label, empty, sentences = false }: { items: Dashboard["deniedBy"]; what: string; label: string; empty: string; sentences?: boolean }) {
  if (items.length === 0) return <p className="hint">{empty}</p>;
  const max = Math.max(...items.map((i) => i.count), 1);
  return (
    <TableWrap label={label} caption={label} className="ranking">
      <thead>
        <tr>
          <th scope="col">{what}</th>
          <th scope="col" className="num">
            Count
          </th>
          <th scope="col">
            <span className="sr-only">Bar</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {items.map((i) => (
          <tr key={i.name}>
            <th scope="row">
              {countLabel(i, sentences)}
              {countLabel(i, sentences) !== i.name && <span className="hint block mono">{i.name}</span>}
            </th>
            <td className="num">{i.count.toLocaleString("en")}</td>
            <td className="bar-cell">
              <meter min={0} max={max} value={i.count} aria-hidden="true" />
            </td>
          </tr>
        ))}
      </tbody>
    </TableWrap>
  );
}

// Use is one licence use as a meter with its numbers, or the number alone when unlimited.
function Use({ id, label, use }: { id: string; label: string; use: LicenceUse }) {
  const m = meter(use);
  return (
    <li className={m.over ? "meter over" : "meter"}>
      {m.limit !== undefined ? (
        <>
          <label htmlFor={id}>{label}</label>
          <meter id={id} min={0} max={Math.max(m.limit, 1)} value={Math.min(m.used, Math.max(m.limit, 1))} low={m.limit * 0.75} high={m.limit * 0.9} optimum={0} aria-describedby={`${id}-text`} />
        </>
      ) : (
        <>
          <span className="label">{label}</span>
          <span className="unlimited" aria-hidden="true" />
        </>
      )}
      <span id={`${id}-text`} className={m.over ? "bad-text" : undefined}>
        {m.text}
      </span>
    </li>
  );
}
