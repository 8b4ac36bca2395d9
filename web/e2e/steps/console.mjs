// Journey steps for the console's certificates and users pages (issue #14), and the openssl
// helpers the journey needs around them: a throw-away CA that issues a certificate from the
// console's CSR, and a client certificate with its key (PEM and .p12) for a certificate user.
//
// Every page step expects the browser to be logged in to the console on the deployment's
// host (service.console) as a console-admin (or the Signum Administrator), on any console
// page: the token lives in the page's memory only, so the steps move through the app's own
// navigation and never reload the page (page.goto would log out).
//
//   createCertificate       leaves the new certificate's detail page (pending, with its CSR)
//   downloadCSR             expects a certificate's detail page with a CSR; stays there
//   importChain             expects a pending certificate's detail page (or one with a pending
//                           renewal); leaves it showing the certificate active
//   createCertificateUser   leaves the new certificate user's page
//   uploadClientCertificate leaves the user's page with the credential listed
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectVisible } from "../harness.mjs";

// openNav follows a link of the console's main navigation.
async function openNav(page, label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
  await expectVisible(page.getByRole("heading", { level: 1 }), `the ${label} page`);
}

// createCertificate creates an ECDSA P-256 certificate in KMS named name (subject CN name,
// O Example Corp) with the certificates page's form, and returns its id.
// service is taken for symmetry with the other steps; the page already is on its console host.
// group is the certificate group it goes in (its checkbox's label).
export async function createCertificate({ j, page, service, name, group }) {
  await openNav(page, "Certificates");
  await page.waitForURL(/\/app\/console\/certificates$/);
  await expectVisible(page.getByRole("heading", { name: "Create a certificate" }), "the create-certificate form");
  await j.check(page, "console-certificates");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Key type").selectOption("EC_P256");
  await page.getByLabel("Common name (CN)").fill(name);
  await page.getByLabel("Organization (O)").fill("Example Corp");
  await page.getByLabel("Country (C)").fill("US");
  await page.getByRole("group", { name: "Groups" }).getByRole("checkbox", { name: group, exact: true }).check();
  await page.getByRole("button", { name: "Create certificate" }).click();
  await page.waitForURL(/\/app\/console\/certificates\/crt_[a-z2-7]{26}$/, { timeout: 20000 });
  await expectVisible(page.getByText("Certificate created"), "the created notice");
  await expectVisible(page.locator(".badge.pending"), "the certificate pending");
  await j.check(page, "console-certificate-pending");
  return page.url().split("/").pop();
}

// downloadCSR clicks "Download CSR" and returns the downloaded file's text (<certId>.csr.pem).
export async function downloadCSR({ j, page }) {
  const certId = page.url().split("/").pop();
  const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSR" }).click()]);
  if (dl.suggestedFilename() !== `${certId}.csr.pem`) throw new Error(`CSR downloaded as ${dl.suggestedFilename()}, want ${certId}.csr.pem`);
  const pem = readFileSync(await dl.path(), "utf8");
  if (!pem.startsWith("-----BEGIN CERTIFICATE REQUEST-----")) throw new Error("the downloaded CSR is not a PEM certificate request");
  if (j) await j.check(page, "console-certificate-csr");
  return pem;
}

// importChain pastes chainPem into the import form, imports it and waits for the certificate
// to be active.
export async function importChain({ j, page, chainPem }) {
  await page.getByLabel("Chain (PEM)").fill(chainPem);
  await expectVisible(page.getByText(/This text holds \d+ certificates?/), "the chain's certificates counted");
  await page.getByRole("button", { name: "Import chain" }).click();
  await expectVisible(page.getByText("Chain imported"), "the chain imported");
  await expectVisible(page.locator(".badge.active"), "the certificate active");
  await expectVisible(page.getByRole("button", { name: "Download chain" }), "the chain download");
  // How to sign with it, with this certificate's id and name filled in.
  const certId = page.url().split("/").pop();
  const name = (await page.getByRole("heading", { level: 1 }).textContent()).trim();
  const commands = page.getByLabel("Signing commands");
  await expectVisible(commands, "the signing commands");
  const text = await commands.textContent();
  for (const want of [`signum sign --cert ${certId}`, `pkcs11:object=${encodeURIComponent(name)};type=private`, `-certchain ${certId}.pem`]) {
    if (!text.includes(want)) throw new Error(`the signing commands do not say ${want}:\n${text}`);
  }
  await j.check(page, "console-certificate-active");
}

// createCertificateUser creates a certificate user (no password) with the signer role and
// returns its id.
export async function createCertificateUser({ j, page, name }) {
  await openNav(page, "Users");
  await page.waitForURL(/\/app\/console\/users$/);
  await expectVisible(page.getByRole("heading", { name: "Create a user" }), "the create-user form");
  await j.check(page, "console-users");
  await page.getByLabel(/Certificate user/).check();
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Name", { exact: true }).fill(name);
  const signer = page.getByRole("checkbox", { name: /^signer/ });
  if (!(await signer.isChecked())) await signer.check();
  await page.getByRole("button", { name: "Create certificate user" }).click();
  await page.waitForURL(/\/app\/console\/users\/cu_[a-z2-7]{26}$/);
  await expectVisible(page.getByText("Certificate user created"), "the created notice");
  await j.check(page, "console-certificate-user");
  return page.url().split("/").pop();
}

// uploadClientCertificate registers pem for the user userId by pasting it: kind "certificate"
// pins it; kind "ca" registers an issuing CA with rules (default: every certificate it issues,
// {field: "subject", pattern: ".*"}).
export async function uploadClientCertificate({ j, page, userId, pem, kind = "certificate", name = "e2e agent", rules }) {
  if (!page.url().endsWith(`/console/users/${userId}`)) {
    await openNav(page, "Users");
    await page.locator(`a[href$="/console/users/${userId}"]`).click();
    await page.waitForURL(new RegExp(`/console/users/${userId}$`));
  }
  await page.getByLabel(kind === "ca" ? "An issuing CA, with rules" : "The user's own certificate (pinned)").check();
  await page.getByLabel("Label").fill(name);
  await page.getByLabel(kind === "ca" ? "CA certificate (PEM)" : "Certificate (PEM)").fill(pem);
  if (kind === "ca") {
    const want = rules ?? [{ field: "subject", pattern: ".*" }];
    for (let i = 0; i < want.length; i++) {
      if (i > 0) await page.getByRole("button", { name: "Add a rule" }).click();
      await page.getByLabel(`Rule ${i + 1} field`).selectOption(want[i].field);
      await page.getByLabel(`Rule ${i + 1} pattern`).fill(want[i].pattern);
    }
  }
  await page.getByRole("button", { name: kind === "ca" ? "Register CA" : "Register certificate" }).click();
  await expectVisible(page.getByText(`Registered ${name}`), "the registered notice");
  await expectVisible(page.getByRole("rowheader", { name }), "the credential in the list");
  await j.check(page, "console-client-certificate");
}

function openssl(dir, ...args) {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
}

// issueChain has a throw-away CA (made here, in a temporary directory) issue a code-signing
// certificate from csrPem, valid for 30 days. chainPem is the leaf and the CA, as a customer
// pastes it; caPem the CA alone (to verify signatures with).
export function issueChain(csrPem) {
  const dir = mkdtempSync(join(tmpdir(), "signum-e2e-ca-"));
  writeFileSync(join(dir, "req.csr"), csrPem);
  openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
    "-subj", "/CN=E2E Test Root CA/O=Example CA", "-keyout", "ca.key", "-out", "ca.pem");
  writeFileSync(join(dir, "leaf.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n");
  openssl(dir, "x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30", "-sha256",
    "-extfile", "leaf.ext", "-out", "leaf.pem");
  const caPem = readFileSync(join(dir, "ca.pem"), "utf8");
  return { chainPem: readFileSync(join(dir, "leaf.pem"), "utf8") + caPem, caPem, dir };
}

// makeClientCertificate makes a self-signed ECDSA P-256 client certificate (clientAuth, 7 days)
// for a certificate user, CN name, and its key, and exports both as a .p12 under password.
// Register certPem (kind "certificate"); then the signum CLI signs over mutual TLS with it
// (README, "Sign your first file"; cmd/signum configure):
//
//   SIGNUM_P12_PASSWORD=<password> signum configure --url <service.env.SIGNUM_TLS_URL> \
//     --host <service.env.SIGNUM_DEMO_DOMAIN> --ca <service.env.SIGNUM_TLS_CA> --p12 <p12Path>
//
// or, without a config file, SIGNUM_URL, SIGNUM_HOST, SIGNUM_CA, SIGNUM_P12 and
// SIGNUM_P12_PASSWORD in the environment. curl takes certPath and keyPath (--cert, --key).
export function makeClientCertificate({ name, password }) {
  const dir = mkdtempSync(join(tmpdir(), "signum-e2e-agent-"));
  openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "7",
    "-subj", `/CN=${name}/O=Example Corp`, "-addext", "extendedKeyUsage=clientAuth", "-keyout", "agent.key", "-out", "agent.pem");
  openssl(dir, "pkcs12", "-export", "-inkey", "agent.key", "-in", "agent.pem", "-passout", `pass:${password}`, "-out", "agent.p12");
  return {
    certPem: readFileSync(join(dir, "agent.pem"), "utf8"),
    keyPem: readFileSync(join(dir, "agent.key"), "utf8"),
    certPath: join(dir, "agent.pem"),
    keyPath: join(dir, "agent.key"),
    p12Path: join(dir, "agent.p12"),
    dir,
  };
}
