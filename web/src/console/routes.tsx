import { Navigate, Route } from "react-router-dom";
import { RequireSession, Shell, type NavItem } from "../ui/Shell";
import { may, useSession, type Area } from "../session";
import { ConsoleLogin } from "./Login";
import { Certificates } from "./certificates/Certificates";
import { Groups } from "./groups/Groups";
import { Roles } from "./roles/Roles";
import { CertificateDetail } from "./certificates/CertificateDetail";
import { ConsoleUsers } from "./users/Users";
import { ConsoleUserDetail } from "./users/UserDetail";
import { LocalDomain } from "./LocalDomain";
import { Domains } from "./domains/Domains";
import { Policies } from "./policies/Policies";
import { Grants } from "./grants/Grants";
import { Events } from "./events/Events";
import { ApprovalDetail, Approvals } from "./approvals/Approvals";
import { SystemLog } from "./SystemLog";
import { Timestamping } from "./timestamping/Timestamping";
import { ConsoleDashboard } from "../insights/Dashboards";

// nav names each page's area: the navigation offers the pages the caller's roles may read
// (a link followed anyway gets the page's Forbidden, as the service refuses it).
// ("any": every console user, such as approvals, whose API shows each caller its own.)
const nav: (NavItem & { area: Area | "any" })[] = [
  { to: "/console/certificates", label: "Certificates", area: "certificates" },
  { to: "/console/certificate-groups", label: "Groups", area: "certificates" },
  { to: "/console/users", label: "Users", area: "users" },
  { to: "/console/roles", label: "Roles", area: "users" },
  { to: "/console/domains", label: "Domains", area: "domains" },
  { to: "/console/domain", label: "Local users domain", area: "domains" },
  { to: "/console/policies", label: "Policies", area: "policies" },
  { to: "/console/grants", label: "Grants", area: "policies" },
  { to: "/console/events", label: "Signing events", area: "events" },
  { to: "/console/approvals", label: "Approvals", area: "any" },
  { to: "/console/system-log", label: "System log", area: "systemLog" },
  { to: "/console/timestamping", label: "Timestamping", area: "settings" },
  // The dashboard's counts come from the signing events: whoever may read those (the console
  // admin and viewer, a custom role with events) sees it, narrowed by the API to the
  // certificates of a role scoped to groups.
  { to: "/console/dashboard", label: "Dashboard", area: "events" },
];

function ConsoleShell({ children }: { children: React.ReactNode }) {
  const { session } = useSession();
  const items = session ? nav.filter((n) => n.area === "any" || may(session, n.area)) : nav;
  return (
    <Shell face="console" nav={items}>
      <RequireSession face="console">{children}</RequireSession>
    </Shell>
  );
}

export const consoleRoutes = (
  <>
    <Route path="/console" element={<Navigate to="/console/certificates" replace />} />
    <Route path="/console/login" element={<Shell face="console" nav={[]}><ConsoleLogin /></Shell>} />
    <Route path="/console/certificates" element={<ConsoleShell><Certificates /></ConsoleShell>} />
    <Route path="/console/certificates/:certId" element={<ConsoleShell><CertificateDetail /></ConsoleShell>} />
    <Route path="/console/certificate-groups" element={<ConsoleShell><Groups /></ConsoleShell>} />
    <Route path="/console/users" element={<ConsoleShell><ConsoleUsers /></ConsoleShell>} />
    <Route path="/console/roles" element={<ConsoleShell><Roles /></ConsoleShell>} />
    <Route path="/console/users/:userId" element={<ConsoleShell><ConsoleUserDetail /></ConsoleShell>} />
    <Route path="/console/domains" element={<ConsoleShell><Domains /></ConsoleShell>} />
    <Route path="/console/domain" element={<ConsoleShell><LocalDomain /></ConsoleShell>} />
    <Route path="/console/policies" element={<ConsoleShell><Policies /></ConsoleShell>} />
    <Route path="/console/grants" element={<ConsoleShell><Grants /></ConsoleShell>} />
    <Route path="/console/events" element={<ConsoleShell><Events /></ConsoleShell>} />
    <Route path="/console/approvals" element={<ConsoleShell><Approvals /></ConsoleShell>} />
    <Route path="/console/approvals/:requestId" element={<ConsoleShell><ApprovalDetail /></ConsoleShell>} />
    <Route path="/console/system-log" element={<ConsoleShell><SystemLog /></ConsoleShell>} />
    <Route path="/console/timestamping" element={<ConsoleShell><Timestamping /></ConsoleShell>} />
    <Route path="/console/dashboard" element={<ConsoleShell><ConsoleDashboard /></ConsoleShell>} />
  </>
);
