// Software updates step of the journey (issue #17): the portal Admin takes release 0.2.0 (the
// certificate-groups migration) now and watches it run to done.
//
// applyRelease expects: page logged in to the portal as the deployment's Admin (any portal
//   page of the demo deployment). It publishes release 0.2.0 as the operator (SigV4 with the
//   local operator's credentials from the service's operator.env) unless it is published
//   already (409), opens the Updates page, applies 0.2.0 now and waits until the page shows the
//   update done with its migration's progress. Leaves: the Updates page, the deployment on
//   0.2.0 (data version 2).
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expectVisible } from "../harness.mjs";

const hmac = (key, s) => createHmac("sha256", key).update(s).digest();
const sha256 = (s) => createHash("sha256").update(s).digest("hex");

// operatorFetch sends a request to an /operator route signed with SigV4, as an AWS SDK or
// `curl --aws-sigv4` would.
export async function operatorFetch(service, method, path, body = "") {
  const env = Object.fromEntries(
    readFileSync(join(service.dataDir, "operator.env"), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(/=(.*)/s).slice(0, 2)),
  );
  const url = new URL(path, service.portal);
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const payload = sha256(body);
  const headers = { host: url.host, "x-amz-content-sha256": payload, "x-amz-date": amzDate };
  if (body) headers["content-type"] = "application/json";
  const names = Object.keys(headers).sort();
  const canonical = [method, url.pathname, "", ...names.map((n) => `${n}:${headers[n]}`), "", names.join(";"), payload].join("\n");
  const scope = `${day}/${env.AWS_REGION}/execute-api/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  let key = hmac("AWS4" + env.AWS_SECRET_ACCESS_KEY, day);
  for (const part of [env.AWS_REGION, "execute-api", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  const { host: _host, ...sent } = headers;
  sent.authorization = `AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return fetch(url, { method, headers: sent, body: body || undefined });
}

export async function applyRelease({ j, page, service }) {
  const published = await operatorFetch(
    service,
    "POST",
    "/operator/releases",
    JSON.stringify({
      version: "0.2.0",
      notes: "Certificate groups replace the free-text certificate labels: each label becomes a group, and policies name groups.",
      minFrom: "0.1.0",
      dataVersion: 2,
      migrations: ["certificate-groups"],
    }),
  );
  if (published.status !== 201 && published.status !== 409) throw new Error(`publishing 0.2.0: ${published.status} ${await published.text()}`);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Updates", exact: true }).click();
  const apply = page.getByRole("button", { name: "Apply 0.2.0 now" });
  await expectVisible(apply, "release 0.2.0 offered with its notes");
  await expectVisible(page.getByText("Certificate groups replace the free-text certificate labels", { exact: false }), "the release notes");
  await j.check(page, "portal-updates-available");

  await apply.click();
  // The page follows the update (the migration runs in the updater in the background): "has
  // started" while it runs — the demo's data is migrated already, so it may be done at once —
  // then the run's own state, and no stale "has started".
  await expectVisible(page.getByText("Done.", { exact: true }), "the update done");
  if (await page.getByRole("status").filter({ hasText: "has started" }).count()) throw new Error("'has started' stays after the update is done");
  await expectVisible(page.getByRole("table", { name: "Data migrations of this update" }).getByRole("cell", { name: "done" }), "the migration done");
  await j.check(page, "portal-updates-done");
}
