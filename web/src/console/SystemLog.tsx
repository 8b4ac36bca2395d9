// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../ui/Shell";

export function SystemLog() {
  return <Page title="SystemLog">Not built yet.</Page>;
}
