import { Navigate, Route, useParams } from "react-router-dom";
import { RequireSession, Shell } from "../ui/Shell";
import { useSession } from "../session";
import { PortalLogin } from "./Login";
import { PortalRegister } from "./Register";
import { DeploymentOverview } from "./Overview";
import { DeploymentSettings } from "./Settings";
import { PortalUsers } from "./Users";
import { DeploymentHealth } from "../insights/Health";
import { PortalDashboard } from "../insights/Dashboards";
import { SoftwareUpdates } from "./Updates";

function PortalShell({ children }: { children: React.ReactNode }) {
  const { id = "" } = useParams();
  const nav = [
    { to: `/portal/deployments/${id}`, label: "Overview" },
    { to: `/portal/deployments/${id}/health`, label: "Health" },
    { to: `/portal/deployments/${id}/dashboard`, label: "Dashboard" },
    { to: `/portal/deployments/${id}/settings`, label: "Settings" },
    { to: `/portal/deployments/${id}/users`, label: "Portal users" },
    { to: `/portal/deployments/${id}/updates`, label: "Updates" },
  ];
  return (
    <Shell face="portal" nav={nav}>
      <RequireSession face="portal">{children}</RequireSession>
    </Shell>
  );
}

function PortalHome() {
  const { session } = useSession();
  return <Navigate to={session?.face === "portal" ? `/portal/deployments/${session.deploymentId}` : "/portal/login"} replace />;
}

export const portalRoutes = (
  <>
    <Route path="/portal" element={<PortalHome />} />
    <Route path="/portal/login" element={<Shell face="portal" nav={[]}><PortalLogin /></Shell>} />
    <Route path="/portal/register" element={<Shell face="portal" nav={[]}><PortalRegister /></Shell>} />
    <Route path="/portal/deployments/:id" element={<PortalShell><DeploymentOverview /></PortalShell>} />
    <Route path="/portal/deployments/:id/settings" element={<PortalShell><DeploymentSettings /></PortalShell>} />
    <Route path="/portal/deployments/:id/users" element={<PortalShell><PortalUsers /></PortalShell>} />
    <Route path="/portal/deployments/:id/health" element={<PortalShell><DeploymentHealth /></PortalShell>} />
    <Route path="/portal/deployments/:id/dashboard" element={<PortalShell><PortalDashboard /></PortalShell>} />
    <Route path="/portal/deployments/:id/updates" element={<PortalShell><SoftwareUpdates /></PortalShell>} />
  </>
);
