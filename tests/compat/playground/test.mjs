// The playground in a real browser: headless Chromium (Debian's package, driven by
// playwright-core) opens the real server in dev mode. Before any click, the first screen must
// be clean: no request to /graphql answered with an error status (the schema's introspection
// carries the pre-filled key), an empty result pane, the documentation explorer listing
// `auditEvents`, and the editor offering completions from the schema. Then it runs the default
// query with the pre-filled key, and the result pane must show demo audit events from more
// than one product.
// Every request that is not to the server is blocked and fails the test (the page must work
// offline). A screenshot goes to target/test-output/playground.png.
//
// Run by .ci/run as: node test.mjs, with API_BIN set (and CHROMIUM, default /usr/bin/chromium).

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startApi } from "../server.mjs";

// Opens GraphiQL's documentation explorer (the book button of the sidebar) if it is closed,
// and in it the root query type, which lists the queries.
async function openDocs(page) {
  const open = await page.locator(".graphiql-doc-explorer").count();
  if (open === 0) {
    await page.locator('button[aria-label="Show Documentation Explorer"]').first().click({ timeout: 10_000 });
  }
  await page
    .locator(".graphiql-doc-explorer a.graphiql-doc-explorer-type-name", { hasText: /^Query$/ })
    .first()
    .click({ timeout: 10_000 });
}

const API = process.env.API_BIN;
assert.ok(API, "API_BIN must be set");
const here = path.dirname(fileURLToPath(import.meta.url));
const output = process.env.OUTPUT_DIR ?? path.resolve(here, "../../../target/test-output");
fs.mkdirSync(output, { recursive: true });

// Dev mode keeps its cluster under $CARGO_TARGET_DIR/pg/dev: a private directory here, which
// the postgres user may enter (the server runs PostgreSQL as postgres when run as root).
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tr-playground-"));
fs.chmodSync(scratch, 0o755);
const env = { ...process.env, CARGO_TARGET_DIR: scratch, RUST_LOG: "warn" };
delete env.DATABASE_URL;
const { server, base } = await startApi(API, ["--bind", "127.0.0.1:0"], env, 180_000);
let key = "";
server.stdout.on("data", (chunk) => (key += chunk));
// The key is printed right after the listening line; give it a moment.
for (let i = 0; i < 50 && !key.includes("\n"); i += 1) await new Promise((r) => setTimeout(r, 100));
const origin = new URL(base).origin;

let failed = false;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const offsite = [];
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith("data:")) return route.continue();
    offsite.push(url);
    return route.abort();
  });

  // Every answer from /graphql while the page loads and before anything is clicked.
  const graphqlAnswers = [];
  page.on("response", (r) => {
    if (r.url().startsWith(`${origin}/graphql`)) graphqlAnswers.push(r.status());
  });

  await page.goto(`${origin}/`);
  await page.waitForSelector(".graphiql-container", { timeout: 30_000 });

  // The first screen, before any click: the schema's introspection went out with the key and
  // was answered (no error status), and the result pane shows no error.
  await page.waitForLoadState("networkidle");
  const refused = graphqlAnswers.filter((status) => status >= 400);
  assert.ok(graphqlAnswers.length > 0, "the page asked /graphql for the schema");
  assert.deepEqual(refused, [], `requests to /graphql answered with an error status on load: ${graphqlAnswers}`);
  const firstResult = await page.evaluate(
    () => document.querySelector(".result-window .CodeMirror")?.CodeMirror?.getValue() ?? "",
  );
  assert.ok(!firstResult.includes('"errors"'), `the result pane shows an error before any click: ${firstResult}`);
  // The documentation explorer (opened from the sidebar) lists the schema's queries.
  await openDocs(page);
  const docs = await page
    .waitForFunction(
      () => {
        const text = document.querySelector(".graphiql-doc-explorer")?.textContent ?? "";
        return text.includes("auditEvents") ? text : false;
      },
      null,
      { timeout: 30_000 },
    )
    .then((h) => h.jsonValue())
    .catch(() => "");
  assert.ok(docs.includes("auditEvents"), `the documentation explorer lists auditEvents: ${docs.slice(0, 300)}`);
  console.log(`ok - first screen: ${graphqlAnswers.length} request(s) to /graphql, none refused; docs list auditEvents; result pane empty`);

  // Typing in the query editor offers a completion from the schema.
  await page.click(".graphiql-query-editor .CodeMirror");
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type("{ auditEv", { delay: 50 });
  const hints = await page
    .waitForFunction(
      () => {
        const items = [...document.querySelectorAll(".CodeMirror-hint")].map((e) => e.textContent);
        return items.length > 0 ? items : false;
      },
      null,
      { timeout: 10_000 },
    )
    .then((h) => h.jsonValue())
    .catch(() => []);
  assert.ok(
    hints.some((h) => h.startsWith("auditEvents")),
    `typing "{ auditEv" offers auditEvents: ${JSON.stringify(hints)}`,
  );
  console.log(`ok - typing offers completions from the schema: ${hints.join(", ")}`);
  // Back to the default query for the rest of the test.
  await page.evaluate(() => {
    const config = JSON.parse(document.getElementById("playground-config").textContent);
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(config.tabs[0].query);
  });
  await page.keyboard.press("Escape");
  // The headers editor holds the local operator key the server printed.
  const operatorKey = key.trim().split("\n")[0];
  assert.match(operatorKey, /^trk_/);
  const headersText = await page.evaluate(() =>
    [...document.querySelectorAll(".CodeMirror")].map((e) => e.CodeMirror?.getValue() ?? "").join("\n"),
  );
  assert.ok(headersText.includes(`Bearer ${operatorKey}`), "the Authorization header is pre-filled");
  assert.ok(headersText.includes("auditEvents"), "the default query is loaded");

  await page.click(".graphiql-execute-button");
  const result = await page.waitForFunction(
    () => {
      const editor = document.querySelector(".result-window .CodeMirror")?.CodeMirror;
      const text = editor?.getValue() ?? "";
      return text.includes('"edges"') || text.includes('"errors"') ? text : false;
    },
    null,
    { timeout: 30_000 },
  );
  const response = JSON.parse(await result.jsonValue());
  assert.equal(response.errors, undefined, JSON.stringify(response.errors));
  const nodes = response.data.auditEvents.edges.map((e) => e.node);
  const products = new Set(nodes.map((n) => n.product ?? "portal"));
  console.log(`ok - the default query shows ${nodes.length} events from ${[...products].join(", ")}`);
  assert.ok(nodes.length > 0, "events in the result pane");
  assert.ok(products.size > 1, `events from more than one product: ${[...products]}`);

  // The example tabs are there, and each of their operations runs without errors (sent from
  // the page, with the tab's own headers and variables).
  const tabs = await page.locator(".graphiql-tab").count();
  assert.ok(tabs >= 5, `example tabs: ${tabs}`);
  const examples = await page.evaluate(async () => {
    const config = JSON.parse(document.getElementById("playground-config").textContent);
    const results = [];
    for (const tab of config.tabs) {
      const response = await fetch(config.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...JSON.parse(tab.headers) },
        body: JSON.stringify({ query: tab.query, variables: tab.variables ? JSON.parse(tab.variables) : {} }),
      });
      const body = await response.json();
      const name = tab.query.match(/query (\w+)/)?.[1];
      const edges = body.data?.auditEvents?.edges?.length ?? 0;
      results.push({ name, status: response.status, errors: body.errors, edges });
    }
    return results;
  });
  for (const example of examples) {
    assert.equal(example.status, 200, example.name);
    assert.equal(example.errors, undefined, `${example.name}: ${JSON.stringify(example.errors)}`);
    assert.ok(example.edges > 0, `${example.name} finds demo events`);
  }
  console.log(`ok - ${tabs} example tabs, each finds events: ${examples.map((e) => `${e.name} ${e.edges}`).join(", ")}`);

  await page.screenshot({ path: path.join(output, "playground.png") });
  console.log(`ok - screenshot in ${path.join(output, "playground.png")}`);
  assert.deepEqual(offsite, [], "no request left the server");
  assert.deepEqual(pageErrors, [], "no script errors");
  console.log("ok - nothing requested from elsewhere, no script errors");
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
  server.kill("SIGTERM");
  await new Promise((resolve) => server.on("exit", resolve));
  // The dev cluster stops with the server; wait for it, then remove the scratch directory.
  const pid = path.join(scratch, "pg/dev/data/postmaster.pid");
  for (let i = 0; i < 150 && fs.existsSync(pid); i += 1) await new Promise((r) => setTimeout(r, 200));
  fs.rmSync(scratch, { recursive: true, force: true });
}
if (failed) process.exit(1);
