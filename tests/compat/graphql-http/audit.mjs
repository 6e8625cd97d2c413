// The graphql-http server audits (GraphQL over HTTP, npm graphql-http 1.23.1) against the real
// `api` binary in production mode, with a valid key on every request through `fetchFn`.
// Fails on any audit that does not pass: errors, warnings and notices alike.
//
// Run by .ci/run as: localpg exec -- node audit.mjs, with API_BIN set (DATABASE_URL and
// LOCALPG_BINDIR come from localpg).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { startApi } from "../server.mjs";
import { serverAudits } from "graphql-http";

const API = process.env.API_BIN;
const DB = process.env.DATABASE_URL;
const PSQL = path.join(process.env.LOCALPG_BINDIR ?? "", "psql");
assert.ok(API && DB, "API_BIN and DATABASE_URL must be set");

const { server, base } = await startApi(API, ["serve", "--bind", "127.0.0.1:0", "--migrate", "--seal-interval", "off"], { ...process.env, RUST_LOG: "warn" });

let failed = 0;
try {
  execFileSync(PSQL, ["-X", "-q", "-c", "INSERT INTO tenants (slug, name) VALUES ('audit', 'Audit') ON CONFLICT DO NOTHING", DB]);
  const key = execFileSync(API, ["issue-key", "--tenant", "audit", "--name", "graphql-http", "--scopes", "audit:read"], {
    env: process.env,
  })
    .toString()
    .trim();

  const fetchFn = (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${key}`);
    return fetch(input, { ...init, headers });
  };

  const audits = serverAudits({ url: `${base}/graphql`, fetchFn });
  for (const audit of audits) {
    const result = await audit.fn();
    if (result.status === "ok") {
      console.log(`ok - ${result.name}`);
    } else {
      failed += 1;
      const body = await result.response.text().catch(() => "");
      console.log(`not ok - [${result.status}] ${result.name}: ${result.reason} (${result.response.status} ${body})`);
    }
  }
  console.log(`${audits.length - failed} of ${audits.length} audits pass`);
} finally {
  server.kill("SIGTERM");
}
if (failed > 0) process.exit(1);
