import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useSearchParams } from "react-router-dom";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { download } from "../ui/download";
import { Field, SelectField } from "../ui/Field";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { TableWrap } from "../ui/TableWrap";
import { Pager, useCursorPages } from "../ui/Pager";
import { utc } from "./events/eventQuery";
import { exportName, filtered, fromSearch, noLogFilters, sectionLabel, sections, toForm, toQuery, toSearch, type LogFilters, type LogQuery } from "./systemlog/logQuery";
import "./systemlog/systemlog.css";

const pageSize = 50;

// SystemLog shows who changed what in the deployment and who logged in, from where, newest
// first, filtered as the API filters it (the filters live in the page's address, so a filtered
// view can be bookmarked or shared), a page at a time (the API's cursor; earlier pages are
// remembered to go back), and downloads what the filters keep as CSV or JSON lines.
export function SystemLog() {
  const [search, setSearch] = useSearchParams();
  const key = search.toString();
  const [form, setForm] = useState<LogFilters>(() => toForm(fromSearch(search)));
  const pages = useCursorPages();
  const [page, setPage] = useState<Schemas["LogPage"] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const query = fromSearch(search);

  const load = useCallback(async (q: LogQuery, cursor: string | undefined) => {
    setPage(null);
    const { data, error, response } = await api.GET("/console/system-log", { params: { query: { ...q, limit: pageSize, cursor } } });
    if (!data) {
      if (response?.status === 403) setForbidden(true);
      else setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setPage(data);
  }, []);

  // A new address (the form applied, a bookmark, back and forward) starts at the first page.
  useEffect(() => {
    const q = fromSearch(new URLSearchParams(key));
    setForm(toForm(q));
    pages.reset();
    void load(q, undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the address is what matters.
  }, [key, load]);

  function apply(e: FormEvent) {
    e.preventDefault();
    const next = toSearch(toQuery(form));
    if (next.toString() === key) {
      // The same filters again: read them again.
      pages.reset();
      void load(query, undefined);
      return;
    }
    setSearch(next);
  }

  if (forbidden) {
    return (
      <Page title="System log">
        <Forbidden what="reading the system log" />
      </Page>
    );
  }

  const set = (patch: Partial<LogFilters>) => setForm({ ...form, ...patch });
  const shortPage = page && page.next && page.items.length < pageSize && filtered(query);
  return (
    <Page title="System log">
      <p>
        Who changed what in this deployment, from the operator, the portal and the console, and every console and portal login, successful or not, with the address it came
        from; newest first. Entries are kept 400 days.
      </p>
      <form onSubmit={apply} className="log-filters" aria-label="Filter the system log">
        <Field label="From (your local time)" type="datetime-local" step="1" value={form.from} error={problem?.fields.from} onChange={(e) => set({ from: e.target.value })} />
        <Field
          label="To (your local time)"
          type="datetime-local"
          step="1"
          value={form.to}
          hint="Entries before this time."
          error={problem?.fields.to}
          onChange={(e) => set({ to: e.target.value })}
        />
        <SelectField label="Section" value={form.section} error={problem?.fields.section} onChange={(e) => set({ section: e.target.value as LogFilters["section"] })}>
          <option value="">Every section</option>
          {sections.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </SelectField>
        <Field
          label="Actor"
          placeholder="cu_…, pu_… or unknown:"
          hint="Part of the actor."
          value={form.actor}
          error={problem?.fields.actor}
          onChange={(e) => set({ actor: e.target.value })}
        />
        <Field
          label="Action"
          placeholder="login.console.failed"
          hint="The action or its beginning."
          value={form.action}
          error={problem?.fields.action}
          onChange={(e) => set({ action: e.target.value })}
        />
        <div className="row actions">
          <button type="submit">Show the entries</button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setForm(noLogFilters);
              if (key === "") {
                pages.reset();
                void load({}, undefined);
              } else setSearch(new URLSearchParams());
            }}
          >
            Clear the filters
          </button>
        </div>
      </form>
      <ProblemBox problem={problem} />
      <Export query={query} />

      <h2>Entries</h2>
      {page === null && !problem && <p role="status">Loading the log…</p>}
      {page && page.items.length === 0 && !page.next && <p role="status">No entry matches these filters.</p>}
      {page && (page.items.length > 0 || page.next) && (
        <>
          <p role="status">
            Page {pages.index + 1}: {page.items.length} entr{page.items.length === 1 ? "y" : "ies"}
            {page.next ? "; there are older ones." : "."}
            {shortPage && " The filters skip entries a page at a time, so a page can hold fewer entries, even none, while older ones still follow."}
          </p>
          {page.items.length > 0 && (
            <TableWrap label="System log entries" className="log" caption="System log entries, newest first">
              <thead>
                <tr>
                  <th scope="col">When (UTC)</th>
                  <th scope="col">Section</th>
                  <th scope="col">Action</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Object</th>
                  <th scope="col">Source IP</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((e) => (
                  <tr key={e.id}>
                    <th scope="row" className="mono">
                      {utc(e.at)}
                    </th>
                    <td>{sectionLabel(e.section)}</td>
                    <td className={"mono nowrap" + (e.action.endsWith(".failed") || e.action.endsWith(".refused") ? " status-bad" : "")}>{e.action}</td>
                    <td className="mono">{e.actor}</td>
                    <td className="mono">{e.object}</td>
                    <td className="mono nowrap">{e.sourceIp}</td>
                    <td>{e.detail}</td>
                  </tr>
                ))}
              </tbody>
            </TableWrap>
          )}
        </>
      )}
      {page && <Pager pages={pages} next={page.next} label="Pages of the log" previousText="Newer entries" nextText="Older entries" onGo={(cursor) => void load(query, cursor)} />}
    </Page>
  );
}

// Export downloads every entry the applied filters keep, through the API's export, as one file.
function Export({ query }: { query: LogQuery }) {
  const [busy, setBusy] = useState<"" | "csv" | "jsonl">("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [done, setDone] = useState("");

  async function run(format: "csv" | "jsonl") {
    setBusy(format);
    setDone("");
    setProblem(null);
    const { data, error, response } = await api.GET("/console/system-log/export", { params: { query: { ...query, format } }, parseAs: "text" });
    setBusy("");
    if (data === undefined) {
      // With parseAs text a problem arrives as text: parse it to show it.
      let parsed: unknown = error;
      try {
        parsed = typeof error === "string" ? JSON.parse(error) : error;
      } catch {
        /* not JSON: show says what the status was */
      }
      setProblem(show(parsed, response));
      return;
    }
    download(data, exportName(response.headers.get("Content-Disposition"), format), format === "csv" ? "text/csv;charset=utf-8" : "application/jsonl");
    const n = response.headers.get("X-Export-Entries") ?? "the";
    setDone(`Downloaded ${n} entr${n === "1" ? "y" : "ies"} as ${format === "csv" ? "CSV" : "JSON lines"}.`);
  }

  return (
    <section aria-labelledby="log-export-title">
      <h2 id="log-export-title">Download</h2>
      <p className="hint">
        Every entry the filters above keep, at most 10,000 in one file; for more, narrow the time range and download it in parts. Spreadsheet formulas are defused in the
        CSV (a leading =, +, - or @ gets a quote); JSON lines keeps every value exactly.
      </p>
      <div className="row">
        <button type="button" className="secondary" disabled={busy !== ""} onClick={() => void run("csv")}>
          {busy === "csv" ? "Preparing the CSV…" : "Download CSV"}
        </button>
        <button type="button" className="secondary" disabled={busy !== ""} onClick={() => void run("jsonl")}>
          {busy === "jsonl" ? "Preparing the JSON lines…" : "Download JSON lines"}
        </button>
      </div>
      <ProblemBox problem={problem} />
      <p role="status">{done}</p>
    </section>
  );
}
