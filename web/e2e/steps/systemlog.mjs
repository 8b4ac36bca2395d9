// Journey steps for the console's system log page (issue #15 item 5).
//
// Every step expects the browser to be logged in to the console on the deployment's host
// (service.console), on any console page, and moves through the app's own navigation (a
// page.goto would reload the app and log out: the token lives in the page's memory only).
//
//   checkSystemLog   expects a console-admin or the Signum Administrator, after at least one
//                    login to the deployment (the journey's portal login and "open the
//                    console" are enough: opening the console from the portal is recorded as
//                    a console login). Refuses a malformed action filter (the API's reason
//                    beside the field), filters by the Logins section (the filter lands in
//                    the page's address), sees a login entry with its source address, and
//                    downloads the filtered entries as CSV, checking its header line and that
//                    every row is a login. Clears the filters and leaves on the Certificates
//                    page, so that a next step that opens the system log loads it afresh.
//   systemLogForbidden  expects a console Viewer (or a signer): the system log page says the
//                    role does not allow reading it. Leaves that page.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { expectVisible } from "../harness.mjs";

// csvHeader is the first line of a CSV export (GET /console/system-log/export?format=csv).
export const csvHeader = "id,at,section,action,actor,object,sourceIp,detail";

async function openSystemLog(page) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "System log", exact: true }).click();
  await page.waitForURL(/\/app\/console\/system-log/);
  await expectVisible(page.getByRole("heading", { level: 1, name: "System log" }), "the system log page");
}

export async function checkSystemLog({ j, page }) {
  await openSystemLog(page);
  const table = page.getByRole("region", { name: "System log entries" });
  await expectVisible(table, "the log's entries");
  await j.check(page, "console-system-log");

  // A malformed filter: the API's 400 names the field, and the page shows it there.
  await page.getByLabel("Action", { exact: true }).fill("login console");
  await page.getByRole("button", { name: "Show the entries" }).click();
  await expectVisible(page.getByText("is an action or its beginning"), "the action filter refused beside its field");
  await page.getByLabel("Action", { exact: true }).fill("");

  // Logins only: the filter goes into the address, and a login entry shows with its address.
  await page.getByLabel("Section").selectOption("login");
  await page.getByRole("button", { name: "Show the entries" }).click();
  await page.waitForURL(/[?&]section=login/);
  const login = table.getByRole("row").filter({ hasText: /login\.(console|portal)\.succeeded/ });
  await expectVisible(login, "a successful login in the log");
  // The cells after the time: section, action, actor, object, source IP, detail.
  const cells = await login.first().getByRole("cell").allTextContents();
  if (!isIP(cells[4]?.trim() ?? "")) throw new Error(`the login entry shows no source address: ${cells.join(" | ")}`);
  const others = await table.getByRole("row").filter({ hasNotText: /login\.|workload\./ }).count(); // CI jobs' sessions are logins too
  if (others > 1) throw new Error(`the Logins section shows ${others - 1} entries that are not logins`); // the header row has no login
  await j.check(page, "console-system-log-logins");

  // The CSV download of what the filters keep.
  const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV" }).click()]);
  if (!/^system-log-dep_[a-z2-7]{26}-\d{8}T\d{6}Z\.csv$/.test(dl.suggestedFilename())) throw new Error(`the CSV downloaded as ${dl.suggestedFilename()}`);
  const lines = readFileSync(await dl.path(), "utf8").trimEnd().split("\n");
  if (lines[0] !== csvHeader) throw new Error(`the CSV's header line is ${JSON.stringify(lines[0])}, want ${csvHeader}`);
  if (lines.length < 2 || !lines.slice(1).every((l) => l.split(",")[2] === "login")) throw new Error(`the CSV holds other sections or no entry:\n${lines.join("\n")}`);
  await expectVisible(page.getByText(/Downloaded \d+ entr(y|ies) as CSV/), "the download confirmed");

  await page.getByRole("button", { name: "Clear the filters" }).click();
  await page.waitForURL(/\/app\/console\/system-log$/);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Certificates", exact: true }).click();
  await page.waitForURL(/\/app\/console\/certificates$/);
}

// systemLogForbidden checks that the navigation does not offer the system log to the role (a
// deep link gets the page's Forbidden; the service refuses the route, as the matrix tests).
export async function systemLogForbidden({ j, page }) {
  const nav = page.getByRole("navigation", { name: "Main" });
  await expectVisible(nav.getByRole("link", { name: "Certificates", exact: true }), "the navigation");
  if (await nav.getByRole("link", { name: "System log", exact: true }).count()) throw new Error("the navigation offers the system log to a role that may not read it");
  await j.check(page, "console-nav-without-system-log");
}
