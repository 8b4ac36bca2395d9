// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../ui/Shell";

export function PortalUsers() {
  return <Page title="PortalUsers">Not built yet.</Page>;
}
