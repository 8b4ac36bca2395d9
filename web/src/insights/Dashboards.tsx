import { useCallback } from "react";
import { useParams } from "react-router-dom";
import { api } from "../api/client";
import { DashboardView, type Answer } from "./DashboardView";
import type { Dashboard, Days } from "./dashboard";

// json keeps a JSON answer's Dashboard: the contract also lists text/csv for these routes, so
// the generated type of data is either; asked for JSON, a string is no dashboard.
function json({ data, error, response }: { data?: Dashboard | string; error?: unknown; response: Response }): Answer<Dashboard> {
  if (typeof data === "string") return { error: { title: "The service answered with text, not a dashboard", status: response.status }, response };
  return { data, error, response };
}

// PortalDashboard is a deployment's dashboard in the portal (portal Admins and Viewers; a
// portal User gets the API's 403, shown as Forbidden).
export function PortalDashboard() {
  const { id = "" } = useParams();
  const load = useCallback(
    async (days: Days) => json(await api.GET("/portal/deployments/{id}/dashboard", { params: { path: { id }, query: { days, format: "json" } } })),
    [id],
  );
  const loadCsv = useCallback(
    (days: Days) => api.GET("/portal/deployments/{id}/dashboard", { params: { path: { id }, query: { days, format: "csv" } }, parseAs: "text" }),
    [id],
  );
  return <DashboardView key={id} scope={id} load={load} loadCsv={loadCsv} />;
}

const consoleLoad = async (days: Days) => json(await api.GET("/console/dashboard", { params: { query: { days, format: "json" } } }));
const consoleCsv = (days: Days) => api.GET("/console/dashboard", { params: { query: { days, format: "csv" } }, parseAs: "text" });

// ConsoleDashboard is the same in the console (console-admin, console-viewer, the Signum
// Administrator). A console admin scoped to certificate groups sees its certificates only and
// no deployment-wide rankings or licence: the API leaves them out, and the page says why.
export function ConsoleDashboard() {
  return (
    <DashboardView
      scope="console"
      load={consoleLoad}
      loadCsv={consoleCsv}
      scopedNote="Not shown to a role scoped to certificate groups: the counts are kept for the whole deployment, not per group."
    />
  );
}
