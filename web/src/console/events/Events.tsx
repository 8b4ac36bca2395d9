// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../../ui/Shell";

export function Events() {
  return <Page title="Events">Not built yet.</Page>;
}
