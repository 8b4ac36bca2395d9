// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../../ui/Shell";

export function ConsoleUsers() {
  return <Page title="ConsoleUsers">Not built yet.</Page>;
}
