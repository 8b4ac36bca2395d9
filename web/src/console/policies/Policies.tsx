// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../../ui/Shell";

export function Policies() {
  return <Page title="Policies">Not built yet.</Page>;
}
