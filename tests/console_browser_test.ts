/**
 * The console (`console/`) in real headless Chromium (Debian's `chromium`, driven by
 * `playwright-core` with its `executablePath`; no browser is downloaded) against the running
 * test stack's production console, which `npm start` / `npm test` build and serve.
 *
 * One browser, one page, signing in and out through the form as each role: a viewer reads
 * and has no approve button (a forged approve is refused by the API); an admin's approval of
 * their own promotion is refused with a visible message; two approvers approve a high-risk
 * plan and the operator applies it (`succeeded`); an apply after the source changed since the
 * page loaded is refused and the page says so; a viewer sees a running rollout with no
 * buttons (a forged pause is refused), the operator pauses then aborts it, each confirmed
 * first; sign-out clears the session; no request
 * carries the service-role key. Screenshots of the main pages go to `console/screenshots/`
 * (the README shows them) with `STAGECOACH_CONSOLE_SCREENSHOTS=1`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { type Browser, chromium, type Page } from "playwright-core";
import { localEnv, readKeys, REPO_ROOT } from "../scripts/local/config.ts";
import { ensureUser } from "../scripts/local/auth.ts";
import {
  type Actor,
  actorEmail,
  deleteConfig,
  type Harness,
  setConfig,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";
import { flagPercent, runningRollout } from "./rollout_helpers.ts";

const CHROMIUM = Deno.env.get("STAGECOACH_CHROMIUM") ?? "/usr/bin/chromium";
/**
 * Where screenshots go: the README's (`console/screenshots/`) when
 * `STAGECOACH_CONSOLE_SCREENSHOTS=1`, else a temporary folder (still taken, so the pages render).
 */
const SHOTS = Deno.env.get("STAGECOACH_CONSOLE_SCREENSHOTS") === "1"
  ? join(REPO_ROOT, "console/screenshots")
  : await Deno.makeTempDir({ prefix: "stagecoach-console-shots-" });
const prod = localEnv("production");
const PASSWORD = `console-${crypto.randomUUID()}`;
const ROLES: Record<Exclude<Actor, "outsider">, "viewer" | "operator" | "approver" | "admin"> = {
  viewer: "viewer",
  operator: "operator",
  approver: "approver",
  approver2: "approver",
  admin: "admin",
};

async function launch(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Cannot find Chromium at ${CHROMIUM}: install Debian's chromium (npm test's bootstrap does), or set STAGECOACH_CHROMIUM`,
    );
  }
  return await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

async function signIn(page: Page, actor: Actor): Promise<void> {
  await page.goto(`${prod.consoleUrl}/#/`);
  await page.getByLabel("Email").fill(actorEmail(actor));
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("me").waitFor();
  assert.match(await page.getByTestId("me").innerText(), new RegExp(ROLES[actor as "viewer"]));
}

async function signOut(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  const stored = await page.evaluate(() =>
    Object.keys(localStorage).filter((k) => k.startsWith("sb-"))
  );
  assert.deepEqual(stored, [], "sign-out leaves no session in supabase-js's storage");
}

async function openPromotion(page: Page, id: string): Promise<void> {
  await page.goto(`${prod.consoleUrl}/#/promotions/${id}`);
  await page.getByTestId("plan-hash").waitFor();
}

async function statusOf(page: Page): Promise<string> {
  return (await page.getByTestId("status").innerText()).trim();
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

/**
 * An approve sent from the page with the signed-in user's own session (read from
 * supabase-js's storage), bypassing the page's buttons.
 */
async function forgeApprove(
  page: Page,
  p: { id: string; plan_hash: string },
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  return await page.evaluate(
    async ([url, id, hash]) => {
      const key = Object.keys(localStorage).find((k) => k.startsWith("sb-"))!;
      const token = JSON.parse(localStorage.getItem(key)!).access_token;
      const res = await fetch(`${url}/ops/promotions/${id}/approve`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ plan_hash: hash }),
      });
      return { status: res.status, body: await res.json() };
    },
    [prod.functionsUrl, p.id, p.plan_hash],
  );
}

/** A pause of a rollout sent from the page with the signed-in user's own session. */
async function forgePause(
  page: Page,
  id: string,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  return await page.evaluate(
    async ([url, id]) => {
      const key = Object.keys(localStorage).find((k) => k.startsWith("sb-"))!;
      const token = JSON.parse(localStorage.getItem(key)!).access_token;
      const res = await fetch(`${url}/ops/rollouts/${id}/pause`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: "{}",
      });
      return { status: res.status, body: await res.json() };
    },
    [prod.functionsUrl, id],
  );
}

/** A high-risk production plan made by the admin: deleting a config entry production has. */
async function highRiskPlan(h: Harness, key: string): Promise<{ id: string; plan_hash: string }> {
  await setConfig(h.db.staging, key, '{"limit": 12345678901234567890, "ratio": 1.50}');
  await h.promote("staging", "production");
  await deleteConfig(h.db.staging, key);
  const planned = await h.plan("staging", "production", { actor: "admin" });
  assert.equal(planned.status, 201, planned.text);
  assert.equal(planned.body.promotion.risk, "high");
  assert.equal(planned.body.promotion.required_approvals, 2);
  return planned.body.promotion;
}

Deno.test({
  name: "console: each role through the browser; approvals bound to the plan, the API decides",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { service_role_key: serviceKey } = await readKeys(prod);
    const script = await Deno.readFile(join(prod.dir, "console/console.js"));
    const gzipped = gzipSync(script, { level: 9 }).length;
    assert.ok(gzipped < 100 * 1024, `initial JavaScript is ${gzipped} bytes gzipped`);
    const html = await Deno.readTextFile(join(prod.dir, "console/index.html"));
    const shipped = new TextDecoder().decode(script) + html;
    assert.ok(!shipped.includes(serviceKey), "the service-role key is not in the page or bundle");

    await withHarness(async (h) => {
      await h.level("development", "staging");
      await h.level("staging", "production");
      for (const actor of Object.keys(ROLES) as (keyof typeof ROLES)[]) {
        await h.token("production", actor);
        await ensureUser(h.db.production, {
          email: actorEmail(actor),
          password: PASSWORD,
          role: ROLES[actor],
        });
      }
      const s = uniqueSuffix();
      const key = `test_${s}.console`;
      const drifting = `test_${s}.drifting`;
      const browser = await launch();
      const headers: string[] = [];
      let rollout: Awaited<ReturnType<typeof runningRollout>> | undefined;
      try {
        await Deno.mkdir(SHOTS, { recursive: true });
        const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
        page.on("request", (r) => headers.push(JSON.stringify(r.headers()) + r.url()));
        page.on("pageerror", (e) => console.error(`console page error: ${e.message}`));
        const p = await highRiskPlan(h, key);
        rollout = await runningRollout(h);

        // A viewer reads: the pending approval, the plan exactly; no approve button.
        await signIn(page, "viewer");
        await page.getByRole("link", { name: /staging → production/ }).first().waitFor();
        await shot(page, "environment");
        await openPromotion(page, p.id);
        assert.equal(await page.getByTestId("plan-hash").innerText(), p.plan_hash);
        const body = await page.locator("main").innerText();
        assert.match(body, /12345678901234567890/, "big integers shown exactly");
        assert.match(body, /1\.50/, "decimals shown as written");
        assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0);
        await shot(page, "promotion");
        // A forged approve, with the viewer's own session, is refused by the API.
        const forged = await forgeApprove(page, p);
        assert.equal(forged.status, 403, JSON.stringify(forged.body));
        assert.equal(forged.body.error.code, "forbidden");
        await page.goto(`${prod.consoleUrl}/#/promotions?risk=high&status=awaiting_approval`);
        await page.getByRole("link", { name: new RegExp(p.id.slice(0, 8)) }).waitFor();
        await shot(page, "promotions");
        // The viewer sees the rollout, with no buttons; a forged pause is refused by the API.
        await page.goto(`${prod.consoleUrl}/#/rollouts`);
        await page.getByRole("link", { name: rollout.flag }).click();
        await page.getByTestId("rollout-percent").getByText("5 % (stage 1 of 3)").waitFor();
        assert.match(await page.locator("main").innerText(), /5 % — current/);
        for (const name of ["Pause", "Resume", "Abort"]) {
          assert.equal(await page.getByRole("button", { name }).count(), 0, name);
        }
        const forgedPause = await forgePause(page, rollout.id);
        assert.equal(forgedPause.status, 403, JSON.stringify(forgedPause.body));
        assert.match(forgedPause.body.error.message, /only operators and admins may/);
        await signOut(page);

        // The admin made the plan: the database refuses their decision, and the page says why.
        await signIn(page, "admin");
        await openPromotion(page, p.id);
        const refused = page.getByTestId("decide-refused");
        await refused.waitFor();
        assert.match(await refused.innerText(), /nobody decides on their own promotion/);
        assert.ok(await page.getByRole("button", { name: "Approve" }).isDisabled());
        const own = await forgeApprove(page, p);
        assert.equal(own.status, 403, JSON.stringify(own.body));
        assert.match(own.body.error.message, /own promotion/);
        await signOut(page);

        // Two approvers, then the operator applies.
        await signIn(page, "approver");
        await openPromotion(page, p.id);
        await page.getByLabel("Comment (optional)").fill("looks right");
        await page.getByRole("button", { name: "Approve" }).click();
        await page.getByText("Approved: the promotion is now awaiting approval").waitFor();
        // One decision per person: once the page re-read the promotion, it says so.
        await page.getByTestId("decide-refused").getByText(/decided already/).waitFor();
        assert.ok(await page.getByRole("button", { name: "Approve" }).isDisabled());
        await signOut(page);
        await signIn(page, "approver2");
        await openPromotion(page, p.id);
        await page.getByRole("button", { name: "Approve" }).click();
        await page.getByText("Approved: the promotion is now approved").waitFor();
        await signOut(page);
        await signIn(page, "operator");
        await openPromotion(page, p.id);
        await page.getByRole("button", { name: "Apply" }).click();
        await page.getByText("Applied: the promotion is now succeeded").waitFor();
        await page.getByTestId("status").getByText("succeeded").waitFor();
        // In production only approvers and admins roll back: the operator is not offered it.
        assert.equal(await page.getByRole("button", { name: "Roll back" }).count(), 0);
        await shot(page, "promotion-succeeded");

        // The operator pauses the running rollout, then aborts it; each is confirmed first.
        await page.goto(`${prod.consoleUrl}/#/rollouts`);
        await page.getByRole("link", { name: rollout.flag }).waitFor();
        await shot(page, "rollouts", false);
        await page.goto(`${prod.consoleUrl}/#/rollouts/${rollout.id}`);
        await page.getByRole("button", { name: "Pause" }).click();
        await page.getByLabel("Comment (optional)").fill("error rate up");
        await page.getByRole("button", { name: "Yes, pause" }).click();
        await page.getByText("Paused: the rollout is now paused").waitFor();
        await page.getByTestId("halted").getByText(/pause by .* at 5 % — “error rate up”/)
          .waitFor();
        await page.getByRole("button", { name: "Resume" }).waitFor();
        await shot(page, "rollout-paused");
        await page.getByRole("button", { name: "Abort" }).click();
        await page.getByRole("button", { name: "Yes, abort" }).click();
        await page.getByText("Aborted: the rollout is now aborted").waitFor();
        await page.getByTestId("rollout-status").getByText("aborted").waitFor();
        assert.equal(await page.getByRole("button", { name: "Pause" }).count(), 0);
        assert.equal(await flagPercent(h, rollout.flag), 0, "the flag is back to 0 %");

        // The source changes after the page loaded: the apply is refused, and the page says so.
        await setConfig(h.db.staging, drifting, '"before"');
        const q = (await h.plan("staging", "production")).body.promotion;
        assert.equal(await h.approveAsNeeded("production", q), "approved");
        await openPromotion(page, q.id);
        await setConfig(h.db.staging, drifting, '"after"');
        await page.getByRole("button", { name: "Apply" }).click();
        const drift = page.getByTestId("action-problem");
        await drift.waitFor();
        assert.match(await drift.innerText(), /plan_drift/);
        assert.match(await drift.innerText(), /changed since this page loaded/);
        assert.match(await drift.innerText(), new RegExp(drifting.replace(".", "\\.")));
        assert.equal(await statusOf(page), "approved", "nothing was applied");

        await page.goto(`${prod.consoleUrl}/#/audit`);
        await page.getByTestId("chain").getByText("verified").waitFor();
        await shot(page, "audit", false);
        await page.goto(`${prod.consoleUrl}/#/releases`);
        await page.getByRole("heading", { name: "Releases" }).waitFor();
        await page.setViewportSize({ width: 390, height: 800 });
        await openPromotion(page, p.id);
        await shot(page, "promotion-phone");
        await signOut(page);
      } finally {
        await browser.close();
        await rollout?.cleanup();
        await deleteConfig(h.db.staging, key, drifting);
        await h.level("staging", "production");
      }
      const leaked = headers.filter((line) => line.includes(serviceKey));
      assert.deepEqual(leaked, [], "no request carries the service-role key");
      assert.ok(headers.length > 0);
    });
  },
});
