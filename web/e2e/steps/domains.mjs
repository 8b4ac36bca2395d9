// Journey steps for the console's Domains page (issue #15): the Signum Administrator creates an
// OIDC, a SAML and a CI workload identity domain, each with its own form.
//
// Every step expects the browser to be logged in to the console on the deployment's host
// (service.console) as the deployment's Signum Administrator (the portal Admin who registered
// from the deployment link and opened the console), on any console page. The token lives in
// the page's memory only, so the steps move through the app's own navigation and never reload
// the page (page.goto would log out). Each leaves the Domains page with the new domain listed
// (its row showing user@alias), the form closed and the "was created" notice shown, and
// returns nothing.
//
//   createCIDomain   creates a CI workload identity domain: issuer (a preset button when it is
//                    GitHub's or GitLab's, else typed), audience, and one claim rule
//                    rule = { name, user, claims: { claim: pattern, ... } }. It first sends
//                    the rule with ".*" as the first claim's pattern and expects the API's
//                    refusal beside that claim ("matches an empty value"), then the real
//                    pattern. The alias must be free.
//   createOIDCDomain creates an OIDC domain: issuer, client id (and clientSecret if given),
//                    just-in-time provisioning on, defaultRole ("" = refuse, or a built-in
//                    role: console-admin, console-viewer, signer) and, given mapping =
//                    { group, role, priority }, one IdP group → role mapping. It first sends
//                    the alias with an underscore and expects the API's refusal beside the
//                    Alias field. The OIDC issuer is not contacted when saving.
//   createSAMLDomain creates a SAML domain from the IdP's metadata XML (metadataXml, pasted
//                    into the text area; samlMetadata() below fetches the stand-in's); given
//                    defaultRole, with just-in-time provisioning and that default role.
//
// standIns(service) reads the identity provider stand-ins' addresses from the local server's
// banner ({ oidcIssuer, samlMetadataURL, actionsIssuer }); samlMetadata(url) fetches metadata.
import { expectVisible } from "../harness.mjs";

// openDomains follows the console's main navigation to the Domains page.
async function openDomains(page) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Domains", exact: true }).click();
  await page.waitForURL(/\/app\/console\/domains$/);
  await expectVisible(page.getByRole("rowheader", { name: /Local users/ }), "the built-in domains listed");
}

async function fillCommon(page, { name, alias }) {
  await expectVisible(page.getByRole("heading", { level: 2, name: /^New .* domain$/ }), "the domain form");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Alias", { exact: true }).fill(alias);
}

// create submits the form and checks the new row.
async function create(page, { name, alias }) {
  await page.getByRole("button", { name: "Create domain" }).click();
  await expectVisible(page.getByRole("status").filter({ hasText: `Domain “${name}” was created` }), `the domain ${name} created`);
  const row = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name }) });
  await expectVisible(row.getByText(`user@${alias.toLowerCase()}`, { exact: true }), `the row of ${name} with user@${alias}`);
  return row;
}

export async function createCIDomain({ j, page, name, alias, issuer, audience, rule }) {
  await openDomains(page);
  await page.getByRole("button", { name: "New CI domain" }).click();
  await fillCommon(page, { name, alias });
  const preset = { "https://token.actions.githubusercontent.com": "Use GitHub Actions’s issuer", "https://gitlab.com": "Use GitLab’s issuer" }[issuer];
  if (preset) await page.getByRole("button", { name: preset }).click();
  else await page.getByLabel("Issuer", { exact: true }).fill(issuer);
  if ((await page.getByLabel("Issuer", { exact: true }).inputValue()) !== issuer) throw new Error("the issuer preset did not fill the issuer");
  await page.getByLabel("Audience", { exact: true }).fill(audience);
  await page.getByLabel("Rule name of rule 1", { exact: true }).fill(rule.name);
  await page.getByLabel("Console user of rule 1", { exact: true }).fill(rule.user);
  const claims = Object.entries(rule.claims);
  for (let k = 1; k <= claims.length; k++) {
    if (k > 1) await page.getByRole("button", { name: "Add a claim to rule 1" }).click();
    const [claim, pattern] = claims[k - 1];
    await page.getByLabel(`Claim ${k} of rule 1`, { exact: true }).fill(claim);
    await page.getByLabel(`Pattern (full match) ${k} of rule 1`, { exact: true }).fill(k === 1 ? ".*" : pattern);
  }
  // A pattern that matches everything constrains nothing: the API refuses it, beside its claim.
  await page.getByRole("button", { name: "Create domain" }).click();
  const first = page.getByLabel("Pattern (full match) 1 of rule 1", { exact: true });
  await expectVisible(page.locator(".claim-row").first().getByText("matches an empty value"), "the refused pattern beside its claim");
  if ((await first.getAttribute("aria-invalid")) !== "true") throw new Error("the refused pattern is not marked invalid");
  await j.check(page, "console-domain-ci-refused");
  await first.fill(claims[0][1]);
  const row = await create(page, { name, alias });
  await expectVisible(row.getByText(rule.user), "the rule's user in the row");
  await j.check(page, "console-domains-ci");
}

export async function createOIDCDomain({ j, page, name, alias, issuer, clientId, clientSecret, defaultRole = "", mapping }) {
  await openDomains(page);
  await page.getByRole("button", { name: "New OIDC domain" }).click();
  await fillCommon(page, { name, alias: alias.replace(/-|$/, "_") });
  await page.getByLabel("Issuer", { exact: true }).fill(issuer);
  await page.getByLabel("Client id", { exact: true }).fill(clientId);
  if (clientSecret) await page.getByLabel("Client secret", { exact: true }).fill(clientSecret);
  await page.getByLabel(/just-in-time provisioning/).check();
  await page.getByLabel("Default role", { exact: true }).selectOption(defaultRole);
  if (mapping) {
    await page.getByRole("button", { name: "Add a mapping" }).click();
    await page.getByLabel("IdP group of mapping 1", { exact: true }).fill(mapping.group);
    await page.getByLabel("Role of mapping 1", { exact: true }).selectOption(mapping.role);
    await page.getByLabel("Priority of mapping 1", { exact: true }).fill(String(mapping.priority ?? 0));
  }
  // An underscore is not allowed in an alias: the API says so beside the field.
  await page.getByRole("button", { name: "Create domain" }).click();
  const aliasField = page.getByLabel("Alias", { exact: true });
  await expectVisible(page.locator(".field").filter({ has: aliasField }).locator(".field-error"), "the refused alias beside its field");
  await j.check(page, "console-domain-oidc-refused");
  await aliasField.fill(alias);
  const row = await create(page, { name, alias });
  await expectVisible(row.getByRole("link", { name: /Test login/ }), "the test login link");
  const href = await row.getByRole("link", { name: /Test login/ }).getAttribute("href");
  if (!/^\/console\/domains\/dom_[a-z2-7]+\/login\?test=1$/.test(href ?? "")) throw new Error(`unexpected test login link ${href}`);
  await j.check(page, "console-domains-oidc");
}

export async function createSAMLDomain({ j, page, name, alias, metadataXml, defaultRole }) {
  await openDomains(page);
  await page.getByRole("button", { name: "New SAML domain" }).click();
  await fillCommon(page, { name, alias });
  await page.getByLabel("IdP metadata XML", { exact: true }).fill(metadataXml);
  if (defaultRole) {
    await page.getByLabel(/just-in-time provisioning/).check();
    await page.getByLabel("Default role", { exact: true }).selectOption(defaultRole);
  }
  await j.check(page, "console-domain-saml-form");
  const row = await create(page, { name, alias });
  await expectVisible(row.getByText("SAML metadata of the identity provider"), "the SAML row");
  await j.check(page, "console-domains-saml");
}

// standIns reads the stand-in identity providers' addresses from the local server's banner.
export function standIns(service) {
  const log = service.log();
  const find = (re, what) => {
    const m = log.match(re);
    if (!m) throw new Error(`the local server's banner does not show the ${what}`);
    return m[1];
  };
  return {
    oidcIssuer: find(/OIDC provider\s+(\S+)/, "OIDC provider"),
    samlMetadataURL: find(/SAML 2\.0 IdP\s+(\S+)/, "SAML IdP"),
    actionsIssuer: find(/GitHub Actions\s+(http\S+)/, "GitHub Actions stand-in"),
  };
}

// samlMetadata fetches an IdP's SAML metadata, as an administrator downloads it.
export async function samlMetadata(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}
