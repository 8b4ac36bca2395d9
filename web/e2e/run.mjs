// npm run e2e: the customer's journey through the portal and the console in Chromium, against
// the whole local service. Exit status 1 on any failed step or serious accessibility finding.
import { Journey, startBrowser, startService } from "./harness.mjs";
import { journey } from "./journey.mjs";

const service = await startService();
const browser = await startBrowser();
const j = new Journey();
let failed = false;
try {
  await journey({ j, service, browser });
} catch {
  failed = true;
} finally {
  await browser.close();
  if (failed || j.failures.length) {
    console.log("\n--- failures ---\n" + j.failures.join("\n"));
    console.log("\n--- service log (last 4000 characters) ---\n" + service.log().slice(-4000));
  }
  service.stop();
}
console.log(`${j.pages} pages checked with axe; screenshots in web/test-output/screenshots/`);
process.exit(failed || j.failures.length ? 1 : 0);
