// Journey steps for the console's Timestamping page and a policy that requires timestamps
// (issue #20, part 3).
//
// Every step expects the browser to be logged in to the console on the deployment's host
// (service.console) as a console-admin or the Signum Administrator, on any console page, and
// moves through the app's own navigation (a page.goto would log out).
//
//   configureTimestamping  refuses a URL that is not http(s) (the API's reason beside the
//                    field), then saves the local time-stamping authority stand-in
//                    (SIGNUM_TSA_URL, its CA SIGNUM_TSA_CA from demo.env) and sees it listed
//                    as the current authority. Stays on the Timestamping page.
//   requireTimestamps  expects a certificate group named group and the user userId; creates
//                    an enabled Allow policy for them with "Require a timestamp" ticked,
//                    priority 20, and sees it listed. Leaves the policies page.
//   signStamped      signs a file with the CLI as the holder of p12 under that policy, and
//                    checks that the detached signature carries the service's RFC 3161 token
//                    (openssl cms -cmsout -print shows id-smime-aa-timeStampToken) and that
//                    openssl cms -verify accepts it.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expectVisible } from "../harness.mjs";
import { sign } from "./cli.mjs";

async function openNav(page, label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
  await expectVisible(page.getByRole("heading", { level: 1 }), `the ${label} page`);
}

export async function configureTimestamping({ j, page, service }) {
  await openNav(page, "Timestamping");
  await page.waitForURL(/\/app\/console\/timestamping/);
  await expectVisible(page.getByRole("heading", { level: 1, name: "Timestamping" }), "the Timestamping page");
  await j.check(page, "console-timestamping");
  const urls = page.getByLabel("Authorities (one URL a line)");
  await urls.fill("ftp://tsa.example/");
  await page.getByRole("button", { name: "Save the authorities" }).click();
  await expectVisible(page.getByText("is not an http or https URL"), "the refused URL beside its field");
  await urls.fill(service.env.SIGNUM_TSA_URL);
  await page.getByLabel("Trust roots (PEM, optional)").fill(readFileSync(service.env.SIGNUM_TSA_CA, "utf8"));
  await page.getByRole("button", { name: "Save the authorities" }).click();
  await expectVisible(page.getByText("The time-stamping authorities were saved."), "the saved notice");
  await expectVisible(page.getByText(service.env.SIGNUM_TSA_URL).first(), "the authority listed");
  await expectVisible(page.getByText("Their own (PEM below)"), "the own trust roots");
  await j.check(page, "console-timestamping-saved");
}

export async function requireTimestamps({ j, page, name, group, userId }) {
  await openNav(page, "Policies");
  await page.waitForURL(/\/app\/console\/policies/);
  await page.getByRole("button", { name: "New policy" }).click();
  const editor = page.getByRole("region", { name: "New policy" });
  await expectVisible(editor, "the policy editor");
  await editor.getByLabel("Name", { exact: true }).fill(name);
  await editor.getByLabel("Action").selectOption("allow");
  await editor.getByLabel("Priority").fill("20");
  await editor.getByRole("group", { name: "Certificate groups" }).getByRole("checkbox", { name: group, exact: true }).check();
  await editor.getByLabel("User ids").fill(userId);
  await editor.getByLabel("Require a timestamp").check();
  await j.check(page, "console-policy-require-timestamp");
  await editor.getByRole("button", { name: "Create the policy" }).click();
  await expectVisible(page.getByText(`Policy “${name}” was created.`), "the created notice");
}

export function signStamped({ service, certId, p12, password, caFile }) {
  const r = sign({ service, certId, p12, password, text: "stamped by the deployment's authority\n" });
  if (r.status !== 0) throw new Error(`signing under a policy that requires timestamps failed (exit ${r.status}):\n${r.output}`);
  const printed = spawnSync("openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", r.file + ".p7s"], { encoding: "utf8" });
  if (!/id-smime-aa-timeStampToken/.test(printed.stdout ?? "")) throw new Error("the detached signature carries no time-stamp token");
  if (caFile) {
    const v = spawnSync("openssl", ["cms", "-verify", "-binary", "-inform", "DER", "-in", r.file + ".p7s", "-content", r.file, "-CAfile", caFile, "-purpose", "any", "-out", "/dev/null"], { encoding: "utf8" });
    if (v.status !== 0) throw new Error(`openssl cms -verify refused the stamped signature:\n${v.stderr}`);
  }
}
