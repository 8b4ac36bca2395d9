// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../../ui/Shell";

export function ConsoleUserDetail() {
  return <Page title="ConsoleUserDetail">Not built yet.</Page>;
}
