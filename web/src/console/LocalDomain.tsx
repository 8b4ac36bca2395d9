// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../ui/Shell";

export function LocalDomain() {
  return <Page title="LocalDomain">Not built yet.</Page>;
}
