// Journey steps for grants (issue 20): a one-off grant lets a user no policy covers sign a
// number of times; past it the signer refuses and names the grant; the console shows the
// count and revokes the grant.
//
// Expects the browser logged in to the console as a console admin, on any console page, and
// the page's token in memory only (the steps use the app's navigation, never page.goto).
//
//   oneOffGrant  expects userId, a user no policy lets sign with certificateId, and sign, a
//                function that signs one digest as that user and answers the CLI's exit
//                status and output; creates a grant of 1 signature on the Grants page, signs
//                once (allowed) and once more (refused, naming the grant), checks that the
//                page shows "1 of 1 signature used" and "Used up", revokes the grant, and
//                leaves the Grants page with the grant listed as revoked
//   policyGrant  expects policyName, an enabled allow policy without a grant, and sign, a
//                function that signs one digest under it; sets a grant of max signatures on it
//                in the policy editor, signs once, and checks that the editor shows "1 of max
//                signatures used"; leaves the policies page with the editor closed
import { expectVisible } from "../harness.mjs";

export async function oneOffGrant({ j, page, userId, certificateId, sign }) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Grants", exact: true }).click();
  await page.waitForURL(/\/app\/console\/grants/);
  await expectVisible(page.getByRole("heading", { name: "Grants", level: 1 }), "the grants page");
  const form = page.getByRole("region", { name: "Grant signatures to a user" });
  // A bad count is named beside its field, before anything is sent.
  await form.getByLabel("User id").fill(userId);
  await form.getByLabel("Certificate id").fill(certificateId);
  await form.getByLabel("Signatures", { exact: true }).fill("0");
  await form.getByRole("button", { name: "Create the grant" }).click();
  await expectVisible(form.getByText("A whole number of signatures from 1 to 100000000."), "the count's error beside its field");
  await form.getByLabel("Signatures", { exact: true }).fill("1");
  await j.check(page, "console-grant-new");
  await form.getByRole("button", { name: "Create the grant" }).click();
  const created = page.getByText(/^Grant gnt_[a-z2-7]{26} lets /);
  await expectVisible(created, "the created notice");
  const grantId = (await created.innerText()).match(/gnt_[a-z2-7]{26}/)[0];

  const first = sign();
  if (first.status !== 0) throw new Error(`the grant did not let the user sign (exit ${first.status}):\n${first.output}`);
  const second = sign();
  if (second.status === 0 || !second.output.includes(`grant ${grantId} is used up: 1 of 1 signatures`)) {
    throw new Error(`a second signature past the grant was not refused naming it (exit ${second.status}):\n${second.output}`);
  }

  // The count, as the page shows it once read again.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Policies", exact: true }).click();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Grants", exact: true }).click();
  const row = page.getByRole("row", { name: new RegExp(grantId) });
  await expectVisible(row.getByText("1 of 1 signature used"), "the grant's count");
  await expectVisible(row.getByText("Used up"), "the grant used up");
  await j.check(page, "console-grants");
  await row.getByRole("button", { name: `Revoke grant ${grantId}` }).click();
  await expectVisible(page.getByText(`Grant ${grantId} was revoked: 1 of 1 signature used.`), "the revoked notice");
  await expectVisible(page.getByRole("row", { name: new RegExp(grantId) }).getByText("Revoked"), "the grant revoked");
  return grantId;
}

// editPolicy opens the editor of the policy named name on the policies page.
async function editPolicy(page, name) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Policies", exact: true }).click();
  await page.waitForURL(/\/app\/console\/policies/);
  await page.getByRole("button", { name: `Edit ${name}`, exact: true }).click();
  const editor = page.getByRole("region", { name: `Edit policy “${name}”` });
  await expectVisible(editor.getByLabel("Name", { exact: true }), "the policy editor");
  return editor;
}

export async function policyGrant({ j, page, policyName, max, sign }) {
  let editor = await editPolicy(page, policyName);
  await editor.getByLabel("Allow at most a number of signatures").check();
  await editor.getByLabel("Signatures", { exact: true }).fill(String(max));
  await j.check(page, "console-policy-grant");
  await editor.getByRole("button", { name: "Save the policy" }).click();
  await expectVisible(page.getByText(`Policy “${policyName}” was saved.`), "the saved notice");
  const r = sign();
  if (r.status !== 0) throw new Error(`the policy with a grant did not sign (exit ${r.status}):\n${r.output}`);
  editor = await editPolicy(page, policyName);
  await expectVisible(editor.getByText(`So far: 1 of ${max} signatures used in this window.`), "the grant's count in the editor");
  await j.check(page, "console-policy-grant-used");
  await editor.getByRole("button", { name: "Cancel" }).click();
}
