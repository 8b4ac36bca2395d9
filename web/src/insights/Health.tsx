import { useCallback, useEffect, useState } from "react";
import { Link, useLocation, useParams } from "react-router-dom";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { appLink, consolePage, when, groupComponents, latencyText, overallText, statusText, type Component, type ComponentStatus } from "./health";
import "./insights.css";

// StatusBadge is a status as words on its colour: the words carry it, the colour helps.
export function StatusBadge({ status }: { status: ComponentStatus }) {
  return <span className={`health-badge health-${status}`}>{statusText(status)}</span>;
}

// ActionLink is a link the API gives: a path of this app through the router, an https address
// as a plain link, anything else not at all. On the portal, a console page is on the
// deployment's own host and needs the console opened from the overview first (the portal's
// token does not go there), so it is named rather than linked.
export function ActionLink({ link, children }: { link?: string; children: React.ReactNode }) {
  const { pathname } = useLocation();
  const { id = "" } = useParams();
  const l = appLink(link);
  if (!l) return null;
  if (l.kind === "app" && pathname.startsWith("/portal/") && l.to.startsWith("/console/")) {
    return (
      <>
        In the console (
        {pathname === `/portal/deployments/${id}` ? "open it below" : <Link to={`/portal/deployments/${id}`}>open it from the overview</Link>}):{" "}
        <code>{consolePage(l.to)}</code>
      </>
    );
  }
  if (l.kind === "app") return <Link to={l.to}>{children}</Link>;
  return (
    <a href={l.href} rel="noopener noreferrer">
      {children}
    </a>
  );
}

// DeploymentHealth shows GET /portal/deployments/{id}/health: the overall status, then each
// kind of component with every part's status, what was found, what to do and where (portal
// Admins and Viewers; a portal User gets the API's 403).
export function DeploymentHealth() {
  const { id = "" } = useParams();
  const [health, setHealth] = useState<Schemas["DeploymentHealth"] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [checking, setChecking] = useState(false);

  const check = useCallback(async () => {
    setChecking(true);
    const { data, error, response } = await api.GET("/portal/deployments/{id}/health", { params: { path: { id } } });
    setChecking(false);
    if (data) {
      setHealth(data);
      setProblem(null);
    } else if (response?.status === 403) {
      setForbidden(true);
    } else {
      setProblem(show(error, response));
    }
  }, [id]);

  useEffect(() => {
    setHealth(null);
    void check();
  }, [check]);

  if (forbidden) {
    return (
      <Page title="Health">
        <Forbidden what="reading this deployment's health" />
      </Page>
    );
  }

  const groups = health ? groupComponents(health.components) : [];
  return (
    <Page
      title="Health"
      actions={
        <button type="button" className="secondary" onClick={() => void check()} disabled={checking}>
          {checking ? "Checking…" : "Check again"}
        </button>
      }
    >
      <ProblemBox problem={problem} />
      {!health && !problem && <p role="status">Checking the deployment…</p>}
      {health && (
        <>
          <div role="status" className={`health-overall health-${health.status}`}>
            <p>
              <strong>Overall: {statusText(health.status)}.</strong> {overallText(health.status)}
            </p>
            <p className="checked">
              Checked at <time dateTime={health.checkedAt}>{(when(health.checkedAt) ?? new Date()).toLocaleString()}</time>
              {checking ? "; checking again…" : "."}
            </p>
          </div>
          {groups.length === 0 && <p>The service reported no components.</p>}
          {groups.map((g) => (
            <section key={g.kind} aria-labelledby={`health-${g.kind}`} className="health-group">
              <h2 id={`health-${g.kind}`}>
                {g.label} <StatusBadge status={g.status} />
              </h2>
              <ul className="health-list">
                {g.components.map((c) => (
                  <HealthItem key={c.id} c={c} />
                ))}
              </ul>
            </section>
          ))}
        </>
      )}
    </Page>
  );
}

function HealthItem({ c }: { c: Component }) {
  const latency = latencyText(c.latencyMs);
  return (
    <li className={`health-item health-edge-${c.status}`}>
      <div className="health-item-head">
        <h3>{c.title}</h3>
        <StatusBadge status={c.status} />
      </div>
      <p>{c.reason}</p>
      {latency && (
        <p className="hint">
          Answered in <span className="mono">{latency}</span>.
        </p>
      )}
      {c.action && (
        <p>
          <strong>What to do:</strong> {c.action}
        </p>
      )}
      {c.link && appLink(c.link) && (
        <p>
          <ActionLink link={c.link}>{c.action ? "Do it here" : "See it here"}</ActionLink>
          <span className="sr-only">: {c.title}</span>
        </p>
      )}
    </li>
  );
}
