// Real-client tests of talk-relay: Debian's Chromium (headless, driven by playwright-core)
// against the real binary, with the site's pages served from a second origin; Formspree's own
// client library in that browser; webhooks signed by the Standard Webhooks and Stripe libraries.
// Usage: node tests/browser/run.mjs [path/to/talk-relay]   (screenshots go to target/browser/)
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, statSync } from "node:fs";
import { randomBytes, createHash } from "node:crypto";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
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
const ADMIN = "admin-token-browser-test-32-characters-long";
const relayPort = 18380, sitePort = 18381;
const relay = `http://127.0.0.1:${relayPort}`;
const site = `http://127.0.0.1:${sitePort}`;
const foreign = `http://localhost:${sitePort}`; // another origin for the browser: other host name

// Hook secrets made for this run: a Standard Webhooks `whsec_` secret and a Stripe-style one.
const SVIX_SECRET = "whsec_" + randomBytes(24).toString("base64");
const STRIPE_SECRET = "whsec_" + randomBytes(16).toString("hex");

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
[forms.timed]
allowed_origins = ["${site}"]
[forms.timed.spam]
require_token = true
min_fill_ms = 1500
[forms.themed]
title = "Acme support"
allowed_origins = ["${site}"]
[pages]
dir = "${join(work, "pages")}"
[hooks.svix]
preset = "standard-webhooks"
secret_env = "SVIX_SECRET"
[hooks.stripe]
preset = "generic"
auth = "hmac"
secret_env = "STRIPE_SECRET"
signature_header = "Stripe-Signature"
signature_format = "timestamped"
[hooks.stripe.pointers]
email = "/data/object/email"
full_name = "/data/object/name"
idempotency_key = "/id"
`);
// The site's own thank-you page for the "themed" form (README, "Pages").
mkdirSync(join(work, "pages", "themed"), { recursive: true });
writeFileSync(join(work, "pages", "themed", "thank_you.html"), `<!doctype html>
<html lang="{{ t.lang }}"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Thanks — Acme</title>
<style>body{font:18px/1.5 Georgia,serif;background:#12355b;color:#fff;margin:0;padding:3rem}
.card{background:#fff;color:#12355b;border-radius:12px;padding:2rem;max-width:30rem;margin:auto}
a{color:#b3261e;font-weight:bold}</style>
<div class="card"><h1>Acme · {{ t.thank_you_heading }}</h1><p>{{ title }} will answer within a day.</p>
{% if back %}<p><a id="back" href="{{ back }}">{{ t.back_to_site }}</a></p>{% endif %}</div></html>`);

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
  "/themed.html": `<!doctype html><meta charset="utf-8"><title>Acme support</title>
    <h1 id="site-heading">Acme support</h1>
    <form action="${relay}/f/themed" method="post">
      <input type="hidden" name="_page" value="${site}/themed.html">
      <label for="email">Email</label><input name="email" id="email">
      <label for="message">Message</label><textarea name="message" id="message"></textarea>
      <button type="submit" id="send">Send</button>
    </form>`,
  // docs/spam.md, "Time to submit": the relay's script fills the hidden token field.
  "/timed.html": `<!doctype html><meta charset="utf-8"><title>Timed</title>
    <script src="${relay}/f/timed/token.js" defer></script>
    <form action="${relay}/f/timed" method="post">
      <input name="email" id="email"><textarea name="message" id="message"></textarea>
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
// Formspree's own client library, unchanged from npm, pointed at the relay with `endpoint`.
pages["/formspree.html"] = `<!doctype html><meta charset="utf-8"><title>Formspree client</title><p id="result">waiting</p>
    <form id="fs-form"><input name="email" value="fs-form@example.com"><textarea name="message">From a FormData post</textarea></form>
    <script type="module">
      import { createClient } from "/formspree-core.mjs";
      const client = createClient();
      const shape = (r) => r.kind === "error"
        ? { kind: r.kind, form: r.getFormErrors(), email: r.getFieldErrors("email") }
        : { kind: r.kind, next: r.next };
      const submit = async (form, data) => shape(await client.submitForm(form, data, { endpoint: "${relay}" }));
      window.results = {
        ok: await submit("contact", { email: "fs@example.com", message: "From Formspree's client" }),
        formData: await submit("contact", new FormData(document.getElementById("fs-form"))),
        badEmail: await submit("contact", { email: "not-an-email", message: "x" }),
        unknown: await submit("no-such-form", { email: "fs@example.com", message: "x" }),
      };
      document.getElementById("result").textContent = "done";
    </script>`;
const formspreeCore = readFileSync(join(root, "tests/browser/node_modules/@formspree/core/dist/index.mjs"));
const server = createServer((req, res) => {
  if (req.url === "/formspree-core.mjs") {
    res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" });
    return res.end(formspreeCore);
  }
  const page = pages[req.url];
  res.writeHead(page ? 200 : 404, { "Content-Type": "text/html; charset=utf-8" });
  res.end(page ?? "not found");
}).listen(sitePort, "0.0.0.0");

// docs/files.md: a second relay with an Ortto key, delivering to a fake Ortto that keeps what
// it receives, and a form that takes files.
const filesPort = 18382, orttoPort = 18383;
const filesRelay = `http://127.0.0.1:${filesPort}`;
const received = [];
const fakeOrtto = createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => { body += chunk; });
  req.on("end", () => {
    received.push({ path: req.url, body });
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ conversation_id: `c-${received.length}`, person_id: "p-1", person_status: "created" }));
  });
}).listen(orttoPort, "127.0.0.1");
mkdirSync(join(work, "files-relay"));
writeFileSync(join(work, "files-relay", "relay.toml"), `
[server]
port = ${filesPort}
[log]
filter = "warn"
[database]
path = "${join(work, "files-relay", "relay.db")}"
[ortto]
base_url = "http://127.0.0.1:${orttoPort}"
limit_outbound = false
[rate_limits.form_per_ip]
enabled = false
[forms.upload]
title = "Support"
allowed_origins = ["${site}"]
[forms.upload.spam]
min_fill_ms = 0
[forms.upload.files]
fields = ["attachment"]
`);
pages["/upload.html"] = `<!doctype html><meta charset="utf-8"><title>Support</title>
    <form action="${filesRelay}/f/upload" method="post" enctype="multipart/form-data">
      <input name="email" id="email"><textarea name="message" id="message"></textarea>
      <input type="file" name="attachment" id="attachment" multiple>
      <button type="submit" id="send">Send</button>
    </form>`;
const filesProcess = spawn(binary, ["--config", join(work, "files-relay", "relay.toml"), "serve"], {
  cwd: join(work, "files-relay"),
  env: { ...process.env, ORTTO_API_KEY: "browser-test-key-not-real" },
  stdio: ["ignore", "inherit", "inherit"],
});

const relayProcess = spawn(binary, ["--config", join(work, "relay.toml"), "serve"], {
  cwd: work,
  env: { ...process.env, TALK_RELAY_ADMIN_TOKEN: ADMIN, ORTTO_API_KEY: "", SVIX_SECRET, STRIPE_SECRET },
  stdio: ["ignore", "inherit", "inherit"],
});
const sql = (query) => JSON.parse(execFileSync("sqlite3", ["-readonly", "-json", db, query]).toString() || "[]");

let failures = 0;
let passed = 0;
async function scenario(name, body) {
  try { await body(); passed++; console.log(`ok — ${name}`); }
  catch (error) { failures++; console.error(`FAILED — ${name}\n${error.stack}`); }
}

async function waitForRelay(base = relay) {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) return; } catch {}
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

  await scenario("the time-to-submit script fills its field: a bot's instant post is held, a person's is not", async () => {
    const verdict = () => sql("SELECT status, spam_verdict, spam_reasons FROM submissions ORDER BY id DESC LIMIT 1")[0];
    const post = async (wait) => {
      const page = await browser.newPage();
      await page.goto(`${site}/timed.html`);
      await page.waitForFunction(() => document.querySelector('input[name="_fill_token"]')?.value);
      await page.fill("#email", "timed@example.com");
      await page.fill("#message", "Hello from a person");
      await page.waitForTimeout(wait);
      await Promise.all([page.waitForURL(`${relay}/thanks**`), page.click("#send")]);
      await page.close();
      return verdict();
    };
    const bot = await post(0);
    assert.equal(bot.status, "spam", JSON.stringify(bot));
    assert.match(bot.spam_reasons, /too_fast/);
    const person = await post(1700);
    assert.equal(person.spam_verdict, "ham", JSON.stringify(person));
    assert.notEqual(person.status, "spam");
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

  await scenario("Formspree's own client library reads success, field errors and an unknown form", async () => {
    const page = await browser.newPage();
    await page.goto(`${site}/formspree.html`);
    await page.waitForFunction(() => document.getElementById("result").textContent !== "waiting");
    const results = await page.evaluate(() => window.results);
    for (const name of ["ok", "formData"]) {
      assert.equal(results[name].kind, "success", JSON.stringify(results));
      assert.ok(results[name].next.startsWith(`${relay}/thanks?form=contact`), results[name].next);
    }
    assert.equal(sql("SELECT COUNT(*) AS n FROM submissions WHERE email IN ('fs@example.com', 'fs-form@example.com')")[0].n, 2);
    assert.equal(results.badEmail.kind, "error");
    assert.equal(results.badEmail.email[0].code, "TYPE_EMAIL", JSON.stringify(results.badEmail));
    assert.equal(results.unknown.kind, "error");
    assert.equal(results.unknown.form[0].code, "FORM_NOT_FOUND", JSON.stringify(results.unknown));
    await page.close();
  });

  await scenario("the Standard Webhooks library's signatures verify, during a rotation too, and retries dedupe", async () => {
    const body = JSON.stringify({ type: "contact.created", timestamp: new Date().toISOString(),
      data: { email: "svix@example.com", name: "Svi X", message: "Signed by standardwebhooks" } });
    const current = new Webhook(SVIX_SECRET), previous = new Webhook("whsec_" + randomBytes(24).toString("base64"));
    const post = (id, at, signature) => fetch(`${relay}/hooks/svix`, { method: "POST", body,
      headers: { "content-type": "application/json", "webhook-id": id,
                 "webhook-timestamp": String(Math.floor(at / 1000)), "webhook-signature": signature } });
    const now = new Date();
    const rotating = `${previous.sign("msg_rotation", now, body)} ${current.sign("msg_rotation", now, body)}`;
    // The library itself takes the header as the relay gets it.
    current.verify(body, { "webhook-id": "msg_rotation", "webhook-timestamp": String(Math.floor(now / 1000)), "webhook-signature": rotating });
    const first = await post("msg_rotation", now, rotating);
    const firstBody = await first.json();
    assert.equal(first.status, 202, JSON.stringify(firstBody));
    const later = new Date(now.getTime() + 20_000);
    const retry = await post("msg_rotation", later, current.sign("msg_rotation", later, body));
    assert.equal(retry.status, 200);
    assert.equal((await retry.json()).id, firstBody.id);
    const forged = await post("msg_forged", now, previous.sign("msg_forged", now, body));
    assert.equal(forged.status, 401);
    assert.equal(sql("SELECT COUNT(*) AS n FROM submissions WHERE email = 'svix@example.com'")[0].n, 1);
  });

  await scenario("Stripe's test header verifies, and two v1 signatures while a secret rolls", async () => {
    const stripe = new Stripe("sk_test_not_a_real_key");
    const event = (id) => JSON.stringify({ id, type: "customer.created",
      data: { object: { email: "stripe@example.com", name: "Stri Pe" } } });
    const post = (payload, header) => fetch(`${relay}/hooks/stripe`, { method: "POST", body: payload,
      headers: { "content-type": "application/json", "stripe-signature": header } });
    const payload = event("evt_1");
    const single = stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET });
    const answer = await post(payload, single);
    assert.equal(answer.status, 202, await answer.text());
    // While a secret rolls Stripe signs with both: t=…,v1=<new>,v1=<old>, and constructEvent takes it.
    const rolled = event("evt_2");
    const timestamp = Math.floor(Date.now() / 1000);
    const v1 = (secret) => stripe.webhooks.generateTestHeaderString({ payload: rolled, secret, timestamp }).split(",")[1];
    const both = `t=${timestamp},${v1("whsec_" + randomBytes(16).toString("hex"))},${v1(STRIPE_SECRET)}`;
    stripe.webhooks.constructEvent(rolled, both, STRIPE_SECRET);
    const rolling = await post(rolled, both);
    assert.equal(rolling.status, 202, await rolling.text());
    const again = await post(rolled, stripe.webhooks.generateTestHeaderString({ payload: rolled, secret: STRIPE_SECRET }));
    assert.equal(again.status, 200);
    const wrong = await post(event("evt_3"), stripe.webhooks.generateTestHeaderString({ payload: event("evt_3"), secret: "whsec_wrong" }));
    assert.equal(wrong.status, 401);
    assert.equal(sql("SELECT COUNT(*) AS n FROM submissions WHERE email = 'stripe@example.com'")[0].n, 2);
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

  await scenario("the status page's charts render as SVG, on a desktop and on a phone", async () => {
    for (const [viewport, file] of [[{ width: 1280, height: 900 }, "charts.png"], [{ width: 390, height: 844 }, "charts-phone.png"]]) {
      const context = await browser.newContext({ viewport, httpCredentials: { username: "ops", password: ADMIN } });
      const page = await context.newPage();
      await page.goto(`${relay}/admin/`);
      assert.equal(await page.locator("figure.chart svg").count(), 5);
      // Each chart fits its box: no sideways scrolling on a phone.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
      const bars = await page.locator("#chart-volume svg rect").count();
      assert.ok(bars > 0, "the volume chart draws this run's submissions");
      await page.locator("#chart-volume").screenshot({ path: join(shots, `volume-${file}`) });
      await screenshot(page, file, ["Submissions per hour, by status", "Delivery latency per hour", "Spam share per hour"]);
      await context.close();
    }
  });

  await scenario("a themed thank-you page links back to the page the visitor came from", async () => {
    const page = await browser.newPage();
    await page.goto(`${site}/themed.html`);
    await page.fill("#email", "theme@example.com");
    await page.fill("#message", "Does the back link work?");
    await Promise.all([page.waitForURL(`${relay}/thanks**`), page.click("#send")]);
    await screenshot(page, "thank-you-themed.png", ["Acme · Thank you!", "Acme support will answer within a day.", "Back to the site"]);
    assert.equal(await page.locator("#back").getAttribute("href"), `${site}/themed.html`);
    await Promise.all([page.waitForURL(`${site}/themed.html`), page.click("#back")]);
    assert.equal(await page.locator("#site-heading").innerText(), "Acme support");
    await page.close();
  });

  await scenario("the inbox lists, filters, opens, replays and exports submissions", async () => {
    const context = await browser.newContext({ httpCredentials: { username: "ops", password: ADMIN } });
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    await page.goto(`${relay}/admin/inbox`);
    const total = sql("SELECT COUNT(*) AS n FROM submissions")[0].n;
    assert.equal(await page.locator("#inbox tbody tr").count(), total);
    await screenshot(page, "inbox-phone.png", ["Inbox", "theme@example.com"]);
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.selectOption("#filter-status", "invalid");
    await Promise.all([page.waitForURL(/status=invalid/), page.click("#apply")]);
    const invalid = sql("SELECT COUNT(*) AS n FROM submissions WHERE status = 'invalid'")[0].n;
    assert.ok(invalid > 0);
    assert.equal(await page.locator("#inbox tbody tr").count(), invalid);
    await screenshot(page, "inbox-invalid.png", ["invalid", "email"]);
    const csv = await (await page.request.get(relay + await page.locator("#csv").getAttribute("href"))).text();
    assert.equal(csv.trim().split("\n").length, invalid + 1, csv);
    assert.ok(!csv.includes("conversation"), "no payloads in the CSV");

    const [row] = sql("SELECT id FROM submissions WHERE status = 'dry_run' ORDER BY id DESC LIMIT 1");
    await page.goto(`${relay}/admin/inbox?status=dry_run`);
    await Promise.all([page.waitForURL(`${relay}/admin/inbox/${row.id}`), page.click(`a[href="/admin/inbox/${row.id}"]`)]);
    await screenshot(page, "submission.png", ["Submission", "Fields", "Payload", "Attempts"]);
    await Promise.all([page.waitForURL(/replayed=1/), page.click("#replay")]);
    await screenshot(page, "replayed.png", ["Queued again for delivery."]);
    await context.close();
  });

  await scenario("the status page and /admin/refusals show recent refusals", async () => {
    const context = await browser.newContext({ httpCredentials: { username: "ops", password: ADMIN } });
    const page = await context.newPage();
    await page.goto(`${relay}/admin/`);
    await screenshot(page, "refusals.png", ["Recent refusals", "form contact", "422"]);
    await page.goto(`${relay}/admin/refusals`);
    const listed = JSON.parse(await page.locator("body").innerText());
    assert.ok(listed.refusals.some(r => r.source === "contact" && r.status === 422), JSON.stringify(listed));
    await context.close();
  });

  await scenario("a file input with an image and a PDF lands on the thank-you page; the links return the same bytes", async () => {
    await waitForRelay(filesRelay);
    const image = readFileSync(join(shots, "thank-you.png"));
    const pdf = Buffer.from("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    writeFileSync(join(work, "screenshot.png"), image);
    writeFileSync(join(work, "invoice.pdf"), pdf);
    const page = await browser.newPage();
    await page.goto(`${site}/upload.html`);
    await page.fill("#email", "files@example.com");
    await page.fill("#message", "It breaks like this.");
    await page.setInputFiles("#attachment", [join(work, "screenshot.png"), join(work, "invoice.pdf")]);
    await Promise.all([page.waitForURL(`${filesRelay}/thanks**`), page.click("#send")]);
    await screenshot(page, "files-thank-you.png", ["Thank you!", "Support"]);
    await page.close();
    let sent;
    for (let i = 0; i < 100 && !sent; i++) {
      sent = received.find(r => r.path === "/v1/talk/compose");
      if (!sent) await new Promise(r => setTimeout(r, 100));
    }
    assert.ok(sent, "the fake Ortto received the conversation");
    assert.ok(!sent.body.includes("data:"), "no file is inlined");
    const messages = JSON.parse(sent.body).conversation.messages;
    const text = messages.find(m => m.type === "text").body;
    const links = text.split(/\s+/).filter(w => w.startsWith(`${filesRelay}/files/`));
    assert.equal(links.length, 2, text);
    assert.ok(messages.find(m => m.type === "html").body.includes(">invoice.pdf</a>"));
    const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");
    for (const [link, original] of [[links[0], image], [links[1], pdf]]) {
      const answer = await fetch(link);
      assert.equal(answer.status, 200, link);
      assert.equal(answer.headers.get("x-content-type-options"), "nosniff");
      assert.equal(sha(Buffer.from(await answer.arrayBuffer())), sha(original), link);
    }
  });

  await browser.close();
} catch (error) {
  failures++;
  console.error(error);
} finally {
  relayProcess.kill("SIGTERM");
  filesProcess.kill("SIGTERM");
  server.close();
  fakeOrtto.close();
}
console.log(`real clients: ${passed} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
