// Journey steps for approvals (issue 20): a policy that requires approval holds the build
// agent's CLI request; a second console user, named by the policy as approver, finds it under
// Approvals, reads who asks for which file from which process, and approves it with a
// comment; the CLI then fetches the signature with the request's id and writes the file.
//
//   gatedPolicy     expects the Signum Administrator's console on any page, a certificate
//                   certId and a user userId; creates an allow policy named name of priority
//                   100 for them that requires one approval by approverId, with the policy
//                   form's approval field; leaves the policies page
//   approveInBrowser expects nothing of page but its origin: opens its own browser context,
//                   logs in as username, finds the pending request requestId on the
//                   Approvals page, checks its details (file, process) and approves it with a
//                   comment; closes its context
import { browserContext, expectVisible } from "../harness.mjs";

async function openNav(page, label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
  await expectVisible(page.getByRole("heading", { level: 1 }), `the ${label} page`);
}

export async function gatedPolicy({ j, page, name, certId, userId, approverId }) {
  await openNav(page, "Policies");
  await page.getByRole("button", { name: "New policy" }).click();
  const editor = page.getByRole("region", { name: "New policy" });
  await expectVisible(editor, "the policy editor");
  await editor.getByLabel("Name", { exact: true }).fill(name);
  await editor.getByLabel("Action").selectOption("allow");
  await editor.getByLabel("Priority").fill("100");
  await editor.getByLabel("Certificate ids").fill(certId);
  await editor.getByLabel("User ids").fill(userId);
  await editor.getByLabel("Require approval before signing").check();
  // Checked before sending: more approvals than approvers named.
  await editor.getByLabel("Approvals required").fill("2");
  await editor.getByLabel("Approver user ids").fill(approverId);
  await editor.getByRole("button", { name: "Create the policy" }).click();
  await expectVisible(editor.getByText("More than the 1 users named."), "the approval count refused before sending");
  await editor.getByLabel("Approvals required").fill("1");
  await editor.getByLabel("Expires after").fill("1h");
  await j.check(page, "console-policy-approval");
  await editor.getByRole("button", { name: "Create the policy" }).click();
  await expectVisible(page.getByText(`Policy “${name}” was created.`), "the created notice");
  // The dry run says a request would be held for its approver.
  const panel = page.getByRole("region", { name: "Dry run: would this request be allowed?" });
  await panel.getByLabel("User id").fill(userId);
  await panel.getByLabel("Certificate id").fill(certId);
  await panel.getByRole("button", { name: "Evaluate the request" }).click();
  await expectVisible(panel.getByText("Held until an approver approves it."), "the dry run's approval");
}

export async function approveInBrowser({ j, page, browser, username, password, requestId, fileName }) {
  const origin = new URL(page.url()).origin;
  const ctx = await browserContext(browser);
  try {
    const apage = await ctx.newPage();
    await apage.goto(`${origin}/app/console/login`);
    await apage.getByLabel("User name").fill(username);
    await apage.getByLabel("Password", { exact: true }).fill(password);
    await apage.getByRole("button", { name: "Log in" }).click();
    await apage.waitForURL(/\/app\/console\/(?!login)/);
    await openNav(apage, "Approvals");
    const row = apage.getByRole("row").filter({ hasText: fileName });
    await expectVisible(row, "the held request listed");
    if (!(await row.first().innerText()).includes("Waiting for you")) throw new Error(`the request does not wait for ${username}: ${await row.first().innerText()}`);
    await j.check(apage, "console-approvals");
    await row.first().getByRole("link").first().click();
    await apage.waitForURL(new RegExp(`/app/console/approvals/${requestId}$`));
    await expectVisible(apage.getByRole("heading", { name: "Files and digests" }), "the request's files");
    await expectVisible(apage.getByRole("rowheader", { name: fileName }), "the file named");
    const details = await apage.locator("dl.held").innerText();
    for (const want of ["Process\nsignum", "Command line\nsignum ", " sign --cert ", "Requested by"]) {
      if (!details.includes(want)) throw new Error(`the request's details lack ${JSON.stringify(want)}: ${details}`);
    }
    await j.check(apage, "console-approval-request");
    await apage.getByLabel("Comment (optional)").fill("checked the release notes");
    await apage.getByRole("button", { name: "Approve" }).click();
    await expectVisible(apage.getByText("You approved the request: 1 of 1 approvals."), "the approval recorded");
    await expectVisible(apage.getByText("Approved (signs when fetched)"), "the request approved");
    await expectVisible(apage.getByText("checked the release notes"), "the comment shown");
    if (await apage.getByRole("button", { name: "Approve" }).count()) throw new Error("the approver may still answer an approved request");
    await j.check(apage, "console-approval-approved");
  } finally {
    await ctx.close();
  }
}
