// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../../ui/Shell";

export function Certificates() {
  return <Page title="Certificates">Not built yet.</Page>;
}
