// PLACEHOLDER, replaced by this page's real implementation in this session.
import { Page } from "../../ui/Shell";

export function CertificateDetail() {
  return <Page title="CertificateDetail">Not built yet.</Page>;
}
