// Journey steps for the console's policies and signing-events pages (issue #14).
//
// Every step expects the browser to be logged in to the console on the deployment's host
// (service.console) as a portal Admin holding the Signum Administrator role (or any
// console-admin), on any console page. The token lives in the page's memory only, so the
// steps move through the app's own navigation and never reload the page (page.goto would log
// out).
//
//   createPolicy  expects the certificate certificateId and the user userId to exist; creates
//                 an enabled Allow policy named name, priority 10, for that certificate and
//                 that user, any application, any time; leaves the policies page with the
//                 policy listed, and returns its id
//   dryRun        expects a policy that allows userId to sign with certificateId (by default
//                 the last one createPolicy created); runs the dry run on the policies page,
//                 asserts that it says allowed by that policy, and stays there
//   checkEvents   expects at least one allowed and one denied signing decision in the log
//                 (the journey signs with the CLI before) and an untouched log; asserts both
//                 show on the signing-events page, filtering by decision, and that the chain
//                 check says every chain is whole; leaves the events page, filters cleared
import { expectVisible } from "../harness.mjs";

// openNav follows a link of the console's main navigation.
async function openNav(page, label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
  await expectVisible(page.getByRole("heading", { level: 1 }), `the ${label} page`);
}

let lastPolicy = null;

// createPolicy names the certificate certificateId, or, given group, the certificate group of
// that name (chosen by its checkbox).
export async function createPolicy({ j, page, name, certificateId, group, userId }) {
  await openNav(page, "Policies");
  await page.waitForURL(/\/app\/console\/policies/);
  await expectVisible(page.getByRole("heading", { name: "Policies in the order they decide" }), "the policies list");
  await expectVisible(page.getByRole("row", { name: /Default signing policy/ }), "the default policy listed");
  await j.check(page, "console-policies");
  await page.getByRole("button", { name: "New policy" }).click();
  const editor = page.getByRole("region", { name: "New policy" });
  await expectVisible(editor, "the policy editor");
  await editor.getByLabel("Name", { exact: true }).fill(name);
  await editor.getByLabel("Action").selectOption("allow");
  await editor.getByLabel("Priority").fill("10");
  if (certificateId) await editor.getByLabel("Certificate ids").fill(certificateId);
  if (group) await editor.getByRole("group", { name: "Certificate groups" }).getByRole("checkbox", { name: group, exact: true }).check();
  await editor.getByLabel("User ids").fill(userId);
  if (!(await editor.getByLabel("Enabled").isChecked())) await editor.getByLabel("Enabled").check();
  await j.check(page, "console-policy-new");
  await editor.getByRole("button", { name: "Create the policy" }).click();
  await expectVisible(page.getByText(`Policy “${name}” was created.`), "the created notice");
  const row = page.getByRole("row", { name: new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) });
  await expectVisible(row, "the new policy listed");
  const rowText = await row.first().innerText();
  for (const want of ["Enabled", "Allow", certificateId ?? `group ${group}`, userId]) {
    if (!rowText.includes(want)) throw new Error(`the new policy's row lacks ${want}: ${rowText}`);
  }
  const id = (await row.first().getAttribute("id"))?.replace(/^policy-/, "");
  if (!id || !/^pol_[a-z2-7]{26}$/.test(id)) throw new Error(`the new policy's row has no policy id: ${id}`);
  await j.check(page, "console-policy-created");
  lastPolicy = { id, name };
  return id;
}

export async function dryRun({ j, page, certificateId, userId, policyName = lastPolicy?.name }) {
  if (!/\/console\/policies/.test(page.url())) await openNav(page, "Policies");
  const panel = page.getByRole("region", { name: "Dry run: would this request be allowed?" });
  await expectVisible(panel, "the dry-run panel");
  await panel.getByLabel("User id").fill(userId);
  await panel.getByLabel("Certificate id").fill(certificateId);
  await panel.getByRole("button", { name: "Evaluate the request" }).click();
  const answer = panel.locator(".decision");
  await expectVisible(answer, "the dry run's decision");
  const text = await answer.innerText();
  if (!text.startsWith("Allowed")) throw new Error(`the dry run does not say allowed: ${text}`);
  if (policyName && !text.includes(`by policy “${policyName}”`)) throw new Error(`the dry run does not name the policy ${policyName}: ${text}`);
  await j.check(page, "console-policy-dry-run");
}

export async function checkEvents({ j, page }) {
  await openNav(page, "Signing events");
  await page.waitForURL(/\/app\/console\/events/);
  await expectVisible(page.getByRole("table"), "the signing events");
  await j.check(page, "console-events");
  for (const [option, cell] of [
    ["allow", "Allowed"],
    ["deny", "Denied"],
  ]) {
    await page.getByLabel("Decision").selectOption(option);
    await page.getByRole("button", { name: "Show the events" }).click();
    await expectVisible(page.getByRole("cell", { name: new RegExp(`^${cell}`) }), `an ${cell.toLowerCase()} event`);
  }
  await j.check(page, "console-events-denied");
  await page.getByRole("button", { name: "Clear the filters" }).click();
  await expectVisible(page.getByRole("table"), "the signing events, unfiltered");
  await page.getByRole("button", { name: "Check the chains" }).click();
  await expectVisible(page.getByText("Verified: every chain is whole."), "the chains verified");
  await j.check(page, "console-events-verified");
  // The full check runs in the background (the local updater's queue); the page follows it.
  await page.getByRole("button", { name: "Check every event" }).click();
  await expectVisible(page.getByText("Verified in full: every chain is whole."), "the full check done");
  await j.check(page, "console-events-full-check");
}
