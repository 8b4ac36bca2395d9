// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../ui/Shell";

export function DeploymentSettings() {
  return <Page title="DeploymentSettings">Not built yet.</Page>;
}
