// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../ui/Shell";

export function DeploymentOverview() {
  return <Page title="DeploymentOverview">Not built yet.</Page>;
}
