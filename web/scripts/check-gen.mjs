// Fails when src/api/schema.d.ts is not what openapi-typescript makes of docs/openapi.yaml
// today: the UI's request and response types come from the API's document, never by hand.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const out = join(mkdtempSync(join(tmpdir(), "signum-gen-")), "schema.d.ts");
execFileSync("npx", ["openapi-typescript", "../docs/openapi.yaml", "-o", out], { stdio: ["ignore", "ignore", "inherit"] });
const want = readFileSync(out, "utf8");
const got = readFileSync("src/api/schema.d.ts", "utf8");
if (want !== got) {
  console.error("web/src/api/schema.d.ts is stale: docs/openapi.yaml changed. Run `npm run gen` in web/ and commit the result.");
  process.exit(1);
}
console.log("web/src/api/schema.d.ts matches docs/openapi.yaml");
