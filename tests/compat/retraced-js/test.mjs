// Retraced's official Node client (@retracedhq/retraced 0.7.23), unchanged, against the real
// `api` binary: publish one event and a bulk of 30 (the client verifies every hash), then search
// with an action wildcard, a crud list, a received range and an actor id, paging with the
// client's own paging, and read the same event through our GraphQL API.
//
// Run by .ci/run as: localpg exec -- node test.mjs, with API_BIN set (DATABASE_URL and
// LOCALPG_BINDIR come from localpg).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { startApi } from "../server.mjs";
import retraced from "@retracedhq/retraced";

const { Client } = retraced;
const API = process.env.API_BIN;
const DB = process.env.DATABASE_URL;
const PSQL = path.join(process.env.LOCALPG_BINDIR ?? "", "psql");
assert.ok(API && DB, "API_BIN and DATABASE_URL must be set");

let passed = 0;
const check = async (name, fn) => {
  await fn();
  passed += 1;
  console.log(`ok - ${name}`);
};

const { server, base } = await startApi(API, ["serve", "--bind", "127.0.0.1:0", "--migrate", "--seal-interval", "off"], { ...process.env, RUST_LOG: "warn" });

try {
  execFileSync(PSQL, ["-X", "-q", "-c", "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')", DB]);
  const issue = (name, scopes) =>
    execFileSync(API, ["issue-key", "--tenant", "acme", "--name", name, "--scopes", scopes, "--product", "crm"], {
      env: process.env,
    })
      .toString()
      .trim();
  const key = issue("crm-publisher", "audit:write,audit:read");
  const client = new Client({ apiKey: key, projectId: "crm", endpoint: base, component: "crm-api", version: "1.4.2" });

  let loginId;
  await check("reportEvent: 201 and a hash the client verifies", async () => {
    loginId = await client.reportEvent({
      action: "user.login",
      crud: "r",
      group: { id: "acme", name: "Acme" },
      actor: { id: "u1", name: "Ada Lovelace" },
      source_ip: "203.0.113.7",
      description: "Ada logged in",
      fields: { method: "sso", "odd:key=": "a;b" },
    });
    assert.match(loginId, /^\d+$/);
  });

  let bulkIds;
  await check("reportEvents: 30 events, every hash verified", async () => {
    const events = [...Array(30).keys()].map((i) => ({
      action: i % 2 ? "crm.contact.created" : "user.logout",
      crud: i % 2 ? "c" : "r",
      actor: { id: i % 3 === 0 ? "u1" : "u2", name: "Someone" },
      target: { id: `c${i}`, name: `Contact ${i}`, type: "contact" },
      created: new Date(Date.UTC(2026, 0, 1, 0, i)),
      fields: { n: String(i) },
    }));
    bulkIds = await client.reportEvents(events);
    assert.equal(bulkIds.length, 30);
    assert.equal(new Set(bulkIds).size, 30);
  });

  await check("query pages through every match with the client's own paging", async () => {
    const mask = {
      id: true, action: true, crud: true, received: true, created: true, description: true, source_ip: true,
      actor: { id: true, name: true }, target: { id: true, name: true }, group: { id: true, name: true }, fields: true,
    };
    const now = Date.now();
    const conn = await client.query(
      { action: "user.*", crud: "r", received_start: new Date(now - 3600e3), received_end: new Date(now + 3600e3), actor_id: "u1" },
      mask,
      2,
    );
    // user.login by u1, and user.logout by u1 for i in 0, 6, 12, 18, 24.
    assert.equal(conn.totalCount, 6);
    const seen = [...conn.currentResults];
    while (conn.hasNextPage()) {
      await conn.nextPage();
      seen.push(...conn.currentResults);
    }
    assert.equal(seen.length, 6);
    assert.equal(new Set(seen.map((e) => e.id)).size, 6);
    for (const e of seen) {
      assert.ok(e.action.startsWith("user."), e.action);
      assert.equal(e.crud, "r");
      assert.equal(e.actor.id, "u1");
      assert.ok(e.received instanceof Date && !Number.isNaN(e.received.getTime()));
    }
    const login = seen.find((e) => e.id === loginId);
    assert.ok(login, "the published login is found");
    assert.equal(login.description, "Ada logged in");
    // (The client asks for `country` when its mask says source_ip, a bug of its own, so the
    // address is checked through our API below.)
    assert.deepEqual(login.group, { id: "acme", name: "Acme" });
    assert.deepEqual(login.fields, { method: "sso", "odd:key=": "a;b" });
    assert.equal(login.actor.name, "Ada Lovelace");
  });

  await check("the same events are in our own auditEvents", async () => {
    const response = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: `{ auditEvents(filter: {products: ["crm"]}, first: 100) { totalCount } auditEvent(id: "${loginId}") { action product actor { id name type } sourceIp metadata } }` }),
    });
    const { data, errors } = await response.json();
    assert.equal(errors, undefined);
    assert.equal(data.auditEvents.totalCount, 31);
    assert.equal(data.auditEvent.product, "crm");
    assert.deepEqual(data.auditEvent.actor, { id: "u1", name: "Ada Lovelace", type: "user" });
    assert.equal(data.auditEvent.sourceIp, "203.0.113.7");
    assert.equal(data.auditEvent.metadata.component, "crm-api");
  });

  await check("a key without audit:write cannot publish", async () => {
    const reader = issue("reader", "audit:read");
    const readOnly = new Client({ apiKey: reader, projectId: "crm", endpoint: base });
    await assert.rejects(readOnly.reportEvent({ action: "x.y", crud: "c", actor: { id: "u1" } }), /401/);
  });

  console.log(`retraced-js: ${passed} passed, 0 failed`);
} finally {
  server.kill("SIGTERM");
}
