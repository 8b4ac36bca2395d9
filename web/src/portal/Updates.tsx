import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useParams } from "react-router-dom";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { CheckField, Field } from "../ui/Field";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { can, useSession } from "../session";
import { inputFromUTC, stateText, unfinished, utcFromInput, weekdays, windowText } from "./updates";
import "./portal.css";
import "./updates.css";

type Updates = Schemas["Updates"];
type Available = Schemas["AvailableRelease"];
type Run = Schemas["UpdateRun"];
type Window = Schemas["MaintenanceWindow"];

// SoftwareUpdates shows a deployment's version, the releases it may take with their notes,
// and its current or last update with each migration's progress. A portal Admin applies a
// release now or schedules it in the maintenance window, cancels a scheduled update, retries
// a paused one and sets the window; a User or Viewer reads it all.
export function SoftwareUpdates() {
  const { id = "" } = useParams();
  const { session } = useSession();
  const admin = can(session, "Admin");
  const [u, setU] = useState<Updates | null>(null);
  const [loadProblem, setLoadProblem] = useState<Shown | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [done, setDone] = useState("");
  // started is set by "apply now": its message holds only while the run it started is unfinished
  // (the run's own state then says how it ended).
  const [started, setStarted] = useState(false);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/portal/deployments/{id}/updates", { params: { path: { id } } });
    if (!data) {
      setLoadProblem(show(error, response));
      return;
    }
    setLoadProblem(null);
    setU(data);
  }, [id]);

  useEffect(() => {
    void load();
  }, [load]);

  // While an update is scheduled or running, the page follows it.
  const following = unfinished(u?.current);
  useEffect(() => {
    if (!following) return;
    const t = window.setInterval(() => void load(), 2000);
    return () => window.clearInterval(t);
  }, [following, load]);

  async function act(what: string, call: () => Promise<{ data?: unknown; error?: unknown; response: Response }>) {
    setBusy(true);
    setProblem(null);
    setDone("");
    setStarted(false);
    const { data, error, response } = await call();
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return false;
    }
    setDone(what);
    await load();
    return true;
  }

  if (loadProblem?.status === 403) {
    return (
      <Page title="Software updates">
        <Forbidden what="reading this deployment's updates" />
      </Page>
    );
  }
  if (!u) {
    return (
      <Page title="Software updates">
        {loadProblem ? <ProblemBox problem={loadProblem} /> : <p role="status">Loading the updates…</p>}
      </Page>
    );
  }

  const run = u.current;
  return (
    <Page title="Software updates">
      <dl className="facts">
        <dt>Software version</dt>
        <dd>{u.version}</dd>
        <dt>Data version</dt>
        <dd>{u.dataVersion}</dd>
        <dt>Maintenance window</dt>
        <dd>
          {windowText(u.maintenanceWindow)}
          <span className="hint block">Next opening: {u.maintenanceWindow.nextOpening.replace(".000Z", "Z")}</span>
        </dd>
      </dl>
      {!admin && <p className="notice">Only a portal Admin applies updates; you see them as they are.</p>}
      <ProblemBox problem={problem} />
      {done && !(started && !unfinished(run)) && <p role="status">{done}</p>}

      <h2>Current update</h2>
      {run ? (
        <CurrentRun
          run={run}
          admin={admin}
          busy={busy}
          onCancel={() => act("The scheduled update is cancelled.", () => api.DELETE("/portal/deployments/{id}/updates/current", { params: { path: { id } } }))}
          onRetry={() => act("The update resumes where it stopped.", () => api.POST("/portal/deployments/{id}/updates/current/retry", { params: { path: { id } } }))}
        />
      ) : (
        <p>No update has run on this deployment yet.</p>
      )}

      <h2>Available updates</h2>
      {u.available.length === 0 ? (
        <p>The deployment is on the newest release.</p>
      ) : (
        u.available.map((r) => (
          <ReleaseItem
            key={r.version}
            release={r}
            admin={admin}
            busy={busy || unfinished(run) || run?.state === "paused"}
            window={u.maintenanceWindow}
            problem={problem}
            onApply={async (at) => {
              const ok = await act(at ? `The update to ${r.version} is scheduled for ${at}.` : `The update to ${r.version} has started.`, () =>
                api.POST("/portal/deployments/{id}/updates", { params: { path: { id } }, body: at ? { version: r.version, at } : { version: r.version } }),
              );
              setStarted(ok && !at);
              return ok;
            }}
          />
        ))
      )}

      <h2>Maintenance window</h2>
      <WindowForm id={id} window={u.maintenanceWindow} admin={admin} onSaved={load} />
    </Page>
  );
}

function CurrentRun({ run, admin, busy, onCancel, onRetry }: { run: Run; admin: boolean; busy: boolean; onCancel: () => void; onRetry: () => void }) {
  return (
    <>
      <p>
        Update from {run.fromVersion} to <strong>{run.version}</strong>:{" "}
        <span className={run.state === "paused" ? "status-bad" : run.state === "done" ? "status-active" : undefined}>{stateText(run)}</span>
      </p>
      {run.error && (
        <p className="problem" role="alert">
          {run.error}
        </p>
      )}
      {run.steps.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption>Data migrations of this update</caption>
            <thead>
              <tr>
                <th scope="col">Migration</th>
                <th scope="col">State</th>
                <th scope="col">Items processed</th>
                <th scope="col">Position</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {run.steps.map((s) => (
                <tr key={s.name}>
                  <th scope="row">
                    <code>{s.name}</code>
                  </th>
                  <td className={s.state === "failed" ? "status-bad" : s.state === "done" ? "status-active" : undefined}>{s.state}</td>
                  <td>{s.processed}</td>
                  <td>{s.cursor ?? (s.state === "done" ? "finished" : "not started")}</td>
                  <td>{s.error ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {admin && run.state === "paused" && (
        <button type="button" disabled={busy} onClick={onRetry}>
          Retry the update
        </button>
      )}
      {admin && run.state === "scheduled" && (
        <button type="button" className="danger" disabled={busy} onClick={onCancel}>
          Cancel the scheduled update
        </button>
      )}
    </>
  );
}

function ReleaseItem({ release: r, admin, busy, window: w, problem, onApply }: { release: Available; admin: boolean; busy: boolean; window: Window; problem: Shown | null; onApply: (at?: string) => Promise<boolean> }) {
  const [at, setAt] = useState(inputFromUTC(w.nextOpening));
  async function schedule(e: FormEvent) {
    e.preventDefault();
    await onApply(utcFromInput(at) || at);
  }
  return (
    <section className="release" aria-labelledby={`release-${r.version}`}>
      <h3 id={`release-${r.version}`}>{r.version}</h3>
      {r.notes && <p className="release-notes">{r.notes}</p>}
      <p className="hint">
        From {r.minFrom} on; data version {r.dataVersion}
        {r.migrations.length > 0 ? `; migrations: ${r.migrations.join(", ")}` : "; no data migration"}.
      </p>
      {!r.canTake ? (
        <p className="notice">
          {r.reason}
          {r.path.length > 1 && <> Path: {r.path.join(" → ")}.</>}
        </p>
      ) : (
        admin && (
          <div className="row">
            <button type="button" disabled={busy} onClick={() => void onApply()}>
              Apply {r.version} now
            </button>
            <form className="row" onSubmit={schedule}>
              <Field
                label={`Start ${r.version} at (UTC)`}
                type="datetime-local"
                value={at}
                onChange={(e) => setAt(e.target.value)}
                hint={`Inside the window: ${windowText(w)}.`}
                error={problem?.fields.at}
              />
              <button type="submit" className="secondary" disabled={busy}>
                Schedule {r.version}
              </button>
            </form>
          </div>
        )
      )}
    </section>
  );
}

function WindowForm({ id, window: w, admin, onSaved }: { id: string; window: Window; admin: boolean; onSaved: () => Promise<void> }) {
  const [days, setDays] = useState<string[]>(w.days);
  const [start, setStart] = useState(w.start);
  const [minutes, setMinutes] = useState(String(w.durationMinutes));
  const [problem, setProblem] = useState<Shown | null>(null);
  const [saved, setSaved] = useState("");
  const [busy, setBusy] = useState(false);

  if (!admin) {
    return <p>{windowText(w)}{w.default ? " (the default: no window was set)." : "."}</p>;
  }

  async function save(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    setSaved("");
    const ordered = weekdays.filter((d) => days.includes(d));
    const { data, error, response } = await api.PUT("/portal/deployments/{id}/maintenance-window", {
      params: { path: { id } },
      body: { days: ordered, start, durationMinutes: Number(minutes) },
    });
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setSaved(`Saved: ${windowText(data)}.`);
    await onSaved();
  }

  return (
    <form className="form" onSubmit={save}>
      <ProblemBox problem={problem} />
      <fieldset className="days">
        <legend>Days (UTC)</legend>
        {weekdays.map((d) => (
          <CheckField key={d} label={d} checked={days.includes(d)} onChange={(on) => setDays(on ? [...days, d] : days.filter((x) => x !== d))} />
        ))}
      </fieldset>
      {problem?.fields.days && (
        <p className="field-error" role="alert">
          {problem.fields.days}
        </p>
      )}
      <Field label="Start (UTC, HH:MM)" type="time" value={start} onChange={(e) => setStart(e.target.value)} error={problem?.fields.start} />
      <Field label="Duration in minutes" type="number" value={minutes} onChange={(e) => setMinutes(e.target.value)} error={problem?.fields.durationMinutes} hint="30 to 1440 minutes; the window may run past midnight." />
      <button type="submit" disabled={busy}>
        Save the window
      </button>
      {saved && <p role="status">{saved}</p>}
    </form>
  );
}
