import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { ProblemBox } from "../ui/ProblemBox";
import { ActionLink } from "./Health";
import { severityText, sortNotices, when } from "./health";
import "./insights.css";

// NeedsAttention is the portal overview's "Needs attention" section: GET
// /portal/deployments/{id}/notices, most severe first, each with what to do and a link. A role
// that may not read the notices (a portal User) sees nothing of it: the rest of the overview
// is theirs.
export function NeedsAttention({ id }: { id: string }) {
  const [notices, setNotices] = useState<Schemas["Notice"][] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [hidden, setHidden] = useState(false);

  useEffect(() => {
    let live = true;
    void api.GET("/portal/deployments/{id}/notices", { params: { path: { id } } }).then(({ data, error, response }) => {
      if (!live) return;
      if (data) {
        setNotices(sortNotices(data.items));
        setProblem(null);
      } else if (response?.status === 403 || response?.status === 404) {
        // 404: a service without the notices route yet; 403: a role without them.
        setHidden(true);
      } else {
        setProblem(show(error, response));
      }
    });
    return () => {
      live = false;
    };
  }, [id]);

  if (hidden) return null;
  return (
    <section aria-labelledby="needs-attention" className="notices">
      <h2 id="needs-attention">Needs attention</h2>
      <ProblemBox problem={problem} />
      {notices === null && !problem && <p role="status">Looking for notices…</p>}
      {notices?.length === 0 && <p className="ok-text">Nothing needs attention.</p>}
      {notices && notices.length > 0 && (
        <ul className="notice-list">
          {notices.map((n) => (
            <li key={n.id} className={`notice-item notice-${n.severity}`}>
              <p className="notice-title">
                <span className={`health-badge severity-${n.severity}`}>{severityText(n.severity)}</span> <strong>{n.title}</strong>
              </p>
              <p>{n.detail}</p>
              <p className="hint">
                {when(n.since) && (
                  <>
                    Since <time dateTime={n.since}>{when(n.since)!.toLocaleString()}</time>
                  </>
                )}
                {n.link && (
                  <>
                    {when(n.since) && " · "}
                    <ActionLink link={n.link}>
                      Go there<span className="sr-only">: {n.title}</span>
                    </ActionLink>
                  </>
                )}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
