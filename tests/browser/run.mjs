// Real-browser tests of talk-relay: Debian's Chromium (headless, driven by playwright-core)
// against the real binary, with the site's pages served from a second origin.
// Usage: node tests/browser/run.mjs [path/to/talk-relay]   (screenshots go to target/browser/)
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const binary = resolve(process.argv[2] ?? join(root, "target/debug/talk-relay"));
const shots = join(root, "target/browser");
mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "talk-relay-browser-"));
const db = join(work, "relay.db");
const ADMIN = "admin-token-browser-test";
const relayPort = 18380, sitePort = 18381;
const relay = `http://127.0.0.1:${relayPort}`;
const site = `http://127.0.0.1:${sitePort}`;
const foreign = `http://localhost:${sitePort}`; // another origin for the browser: other host name

const TEXT = "Héllo 👋🏽 — שלום עולם — e\u0301 n\u0303 (combining) — 日本語";

writeFileSync(join(work, "relay.toml"), `
[server]
port = ${relayPort}
[log]
filter = "warn"
[database]
path = "${db}"
[rate_limits.form_per_ip]
enabled = false
[forms.contact]
title = "Browser contact"
allowed_origins = ["${site}"]
[forms.contact.consent]
field = "subscribe"
unchecked = "opt_out"
`);

const pages = {
  "/form.html": `<!doctype html><meta charset="utf-8"><title>Contact</title>
    <form action="${relay}/f/contact" method="post">
      <input name="name" id="name"><input name="email" id="email" type="text">
      <textarea name="message" id="message"></textarea>
      <label><input type="checkbox" name="topics" value="pricing" id="t1">Pricing</label>
      <label><input type="checkbox" name="topics" value="support" id="t2">Support</label>
      <label><input type="checkbox" name="topics" value="other">Other</label>
      <label><input type="checkbox" name="subscribe" id="subscribe">Subscribe</label>
      <input name="_gotcha" style="display:none" tabindex="-1" autocomplete="off">
      <button type="submit" id="send">Send</button>
    </form>`,
  "/fetch.html": `<!doctype html><meta charset="utf-8"><title>Fetch</title><p id="result">waiting</p>
    <script>
      fetch("${relay}/f/contact", { method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ email: "fetch@example.com", message: "From fetch()" }) })
      .then(async r => { document.getElementById("result").textContent = r.status + " " + (await r.json()).id; })
      .catch(e => { document.getElementById("result").textContent = "blocked: " + e.name; });
    </script>`,
};
const server = createServer((req, res) => {
  const page = pages[req.url];
  res.writeHead(page ? 200 : 404, { "Content-Type": "text/html; charset=utf-8" });
  res.end(page ?? "not found");
}).listen(sitePort, "0.0.0.0");

const relayProcess = spawn(binary, ["--config", join(work, "relay.toml"), "serve"], {
  cwd: work, env: { ...process.env, TALK_RELAY_ADMIN_TOKEN: ADMIN, ORTTO_API_KEY: "" }, stdio: ["ignore", "inherit", "inherit"],
});
const sql = (query) => JSON.parse(execFileSync("sqlite3", ["-readonly", "-json", db, query]).toString() || "[]");

let failures = 0;
let passed = 0;
async function scenario(name, body) {
  try { await body(); passed++; console.log(`ok — ${name}`); }
  catch (error) { failures++; console.error(`FAILED — ${name}\n${error.stack}`); }
}

async function waitForRelay() {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${relay}/healthz`)).ok) return; } catch {}
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error("the relay did not start");
}

async function screenshot(page, file, expected) {
  const text = await page.locator("body").innerText();
  for (const want of expected) assert.ok(text.includes(want), `${file}: "${want}" not on the page:\n${text}`);
  const path = join(shots, file);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 2000, `${file} looks empty`);
}

try {
  await waitForRelay();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });

  await scenario("a plain form with JavaScript off lands on the thank-you page with the text exact", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${site}/form.html`);
    await page.fill("#name", "Zoë Ωmega");
    await page.fill("#email", "zoe@example.com");
    await page.fill("#message", TEXT);
    await page.check("#t1");
    await page.check("#t2");
    await Promise.all([page.waitForURL(`${relay}/thanks**`), page.click("#send")]);
    await screenshot(page, "thank-you.png", ["Thank you!", "Browser contact"]);
    const [row] = sql("SELECT payload, fields, status, consent, origin FROM submissions ORDER BY id DESC LIMIT 1");
    const payload = JSON.parse(row.payload);
    assert.equal(payload.conversation.messages[0].body, `${TEXT}\n\ntopics: pricing, support`);
    assert.equal(payload.fields["bol::p"], false);
    // Cross-origin posts carry only the page's origin as Referer (strict-origin-when-cross-origin).
    const context_sentence = payload.fields["str::s-ctx"];
    assert.ok(context_sentence.startsWith(`Opted out via the Browser contact form on ${site}/ at `), context_sentence);
    assert.equal(payload.fields["str::first"], "Zoë");
    assert.deepEqual(JSON.parse(row.fields).topics, ["pricing", "support"]);
    assert.equal(row.consent, 0);
    assert.equal(row.origin, site);
    await context.close();
  });

  await scenario("fetch() from an allowed origin gets 202 after a CORS preflight", async () => {
    const page = await browser.newPage();
    await page.goto(`${site}/fetch.html`);
    await page.waitForFunction(() => document.getElementById("result").textContent !== "waiting");
    const result = await page.locator("#result").innerText();
    assert.match(result, /^202 [0-9a-f-]{36}$/, result);
    const [row] = sql(`SELECT email FROM submissions WHERE id = '${result.split(" ")[1]}'`);
    assert.equal(row.email, "fetch@example.com");
    await page.close();
  });

  await scenario("fetch() from a foreign origin is refused by the browser", async () => {
    const before = sql("SELECT COUNT(*) AS n FROM submissions")[0].n;
    const page = await browser.newPage();
    await page.goto(`${foreign}/fetch.html`);
    await page.waitForFunction(() => document.getElementById("result").textContent !== "waiting");
    assert.equal(await page.locator("#result").innerText(), "blocked: TypeError");
    assert.equal(sql("SELECT COUNT(*) AS n FROM submissions")[0].n, before, "nothing was recorded");
    await page.close();
  });

  await scenario("an invalid email shows the HTML error page naming the field", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${site}/form.html`);
    await page.fill("#email", "not-an-email");
    await page.fill("#message", "Hello");
    await Promise.all([page.waitForURL(`${relay}/f/contact`), page.click("#send")]);
    await screenshot(page, "error.png", ["Please check the form", "email", "This should be an email address", "Back to the form"]);
    await context.close();
  });

  await scenario("the admin status page shows what the database holds", async () => {
    const context = await browser.newContext({ httpCredentials: { username: "ops", password: ADMIN } });
    const page = await context.newPage();
    await page.goto(`${relay}/admin/`);
    const counts = sql("SELECT status, COUNT(*) AS n FROM submissions GROUP BY status");
    assert.ok(counts.length > 0);
    await screenshot(page, "status.png", ["talk-relay status", "Last 24 hours"]);
    for (const { status, n } of counts) {
      assert.equal(await page.locator(`#count-${status}`).innerText(), String(n), status);
    }
    await context.close();
  });

  await browser.close();
} catch (error) {
  failures++;
  console.error(error);
} finally {
  relayProcess.kill("SIGTERM");
  server.close();
}
console.log(`browser: ${passed} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
