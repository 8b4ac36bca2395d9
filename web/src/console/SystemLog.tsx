import { useCallback, useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { utc } from "./events/eventQuery";

const pageSize = 50;

// SystemLog shows who changed what in the deployment, newest first, a page at a time: the
// API's cursor goes forward, and the cursors of earlier pages are kept to go back.
export function SystemLog() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<Schemas["LogPage"] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);

  const load = useCallback(async (cursor: string | undefined) => {
    setPage(null);
    const { data, error, response } = await api.GET("/console/system-log", { params: { query: { limit: pageSize, cursor } } });
    if (!data) {
      if (response?.status === 403) setForbidden(true);
      else setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setPage(data);
  }, []);

  useEffect(() => {
    void load(undefined);
  }, [load]);

  function go(i: number, cursor: string | undefined) {
    const cs = cursors.slice(0, i);
    cs[i] = cursor;
    setCursors(cs);
    void load(cursor);
  }
  const index = cursors.length - 1;

  if (forbidden) {
    return (
      <Page title="System log">
        <Forbidden what="reading the system log" />
      </Page>
    );
  }
  return (
    <Page title="System log">
      <p>Who changed what in this deployment, from the operator, the portal and the console, newest first. Entries are kept 400 days.</p>
      <ProblemBox problem={problem} />
      {page === null && !problem && <p role="status">Loading the log…</p>}
      {page && page.items.length === 0 && <p role="status">The log is empty.</p>}
      {page && page.items.length > 0 && (
        <>
          <p role="status">
            Page {index + 1}: {page.items.length} entr{page.items.length === 1 ? "y" : "ies"}
            {page.next ? "; there are older ones." : "."}
          </p>
          <div className="table-wrap" tabIndex={0} role="region" aria-label="System log entries">
            <table>
              <caption className="sr-only">System log entries, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When (UTC)</th>
                  <th scope="col">Who</th>
                  <th scope="col">What</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((e) => (
                  <tr key={e.id}>
                    <th scope="row" className="mono">
                      {utc(e.at)}
                    </th>
                    <td className="mono">{e.actor}</td>
                    <td className="mono">{e.action}</td>
                    <td>{e.detail}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {page && (index > 0 || page.next) && (
        <nav aria-label="Pages of the log" className="row">
          <button type="button" className="secondary" disabled={index === 0} onClick={() => go(index - 1, cursors[index - 1])}>
            Newer entries
          </button>
          <button type="button" className="secondary" disabled={!page.next} onClick={() => go(index + 1, page.next ?? undefined)}>
            Older entries
          </button>
        </nav>
      )}
    </Page>
  );
}
