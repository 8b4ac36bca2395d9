import { useCallback, useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { TableWrap } from "../ui/TableWrap";
import { Pager, useCursorPages } from "../ui/Pager";
import { utc } from "./events/eventQuery";

const pageSize = 50;

// SystemLog shows who changed what in the deployment, newest first, a page at a time: the
// API's cursor goes forward, and the cursors of earlier pages are kept to go back.
export function SystemLog() {
  const pages = useCursorPages();
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
            Page {pages.index + 1}: {page.items.length} entr{page.items.length === 1 ? "y" : "ies"}
            {page.next ? "; there are older ones." : "."}
          </p>
          <TableWrap label="System log entries" caption="System log entries, newest first">
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
          </TableWrap>
        </>
      )}
      {page && <Pager pages={pages} next={page.next} label="Pages of the log" className="row" previousText="Newer entries" nextText="Older entries" onGo={(cursor) => void load(cursor)} />}
    </Page>
  );
}
