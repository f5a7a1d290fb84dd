import { expect, test, type Page, type TestInfo } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { mkdirSync, readFileSync } from "node:fs";

export const BASE = process.env.BASE_URL ?? "http://127.0.0.1:3000";
export const SHOTS = process.env.SCREENSHOTS ?? "/work/main/.local/screenshots";

export type Role = "vendor_admin" | "partner_manager" | "company_manager" | "learner" | "platform";

/** A fresh id per test, so parallel tests (and reruns against one table) never collide. */
export function uid(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

export async function token(role: Role, org_id: string, email?: string): Promise<string> {
  const r = await fetch(`${BASE}/dev/token`, { method: "POST", body: JSON.stringify({ role, org_id, ...(email ? { email } : {}) }) });
  expect(r.ok, `POST /dev/token: ${r.status}`).toBeTruthy();
  return ((await r.json()) as { token: string }).token;
}

/** The API, straight (setup and the checks of what it then holds). */
export async function call<T = any>(tok: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${tok}`, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // CSV and the like
  }
  return { status: r.status, body: parsed as T };
}

export async function ok<T = any>(tok: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const r = await call<T>(tok, method, path, body, headers);
  expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
  return r.body;
}

export const at = (iso: string) => ({ "X-Seatkeeper-Now": iso });

/** A partner under the vendor and a company under it. */
export async function partnerAndCompany(tag: string) {
  const admin = await token("vendor_admin", "vendor");
  const partner = uid(`p-${tag}`);
  const company = uid(`c-${tag}`);
  await ok(admin, "POST", "/v1/orgs", { org_id: partner, name: `Partner ${tag}`, kind: "partner", parent_id: "vendor" });
  await ok(admin, "POST", "/v1/orgs", { org_id: company, name: `Globex ${tag}`, kind: "company", parent_id: partner });
  return {
    admin,
    partner,
    company,
    pm: await token("partner_manager", partner, `pm@${partner}.example`),
    cm: await token("company_manager", company, `cm@${company}.example`),
  };
}

/** An order of `quantity` requested and assigned at `when` (a lot valid for a year from then). */
export async function lot(cm: string, pm: string, company: string, quantity: number, when = new Date().toISOString()) {
  const o = await ok(cm, "POST", `/v1/orgs/${company}/orders`, { quantity }, at(when));
  return ok(pm, "POST", `/v1/orders/${o.order_id}/assign`, undefined, at(when));
}

/** Users put through the API, eight requests at a time. */
export async function users(cm: string, company: string, emails: string[], when?: string) {
  const queue = [...emails];
  const worker = async () => {
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
      await ok(cm, "PUT", `/v1/orgs/${company}/users/${e}`, { name: e.split("@")[0] }, when ? at(when) : {});
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/**
 * The budget of a test's set-up through the API (hundreds of requests for the larger tests), run
 * in a `beforeAll` hook so that it is spent outside the test's own timeout: a slower machine
 * takes longer to set up, not a different outcome.
 */
export const SETUP_BUDGET = 10 * 60_000;

/** How long a test waits for a background job (a commit or an allocation) to finish. */
export const JOB_BUDGET = 5 * 60_000;

/** The expire sweep at `now` for one org only (the console's tests share a table). */
export async function sweepExpire(tok: string, org: string, now = new Date()) {
  return ok(tok, "POST", `/dev/sweeps/expire?org=${encodeURIComponent(org)}&now=${now.toISOString().replace(/\.\d+Z$/, "Z")}`);
}

/** Signs the page in with a token (`/#token=`, honoured by the local server's console). */
export async function signInAs(page: Page, tok: string, path = "/") {
  await page.goto(`/#token=${tok}`);
  await page.waitForURL((u) => !u.hash.includes("token"));
  // The hash goes at once; the token is stored once /config.json has said "local".
  await page.waitForFunction(() => sessionStorage.getItem("seatkeeper.token") !== null);
  // A company manager's access is checked once a session, on the first screen: done here, so a
  // screen's first view counted later is the screen's alone.
  await page.waitForLoadState("networkidle");
  if (path !== "/") await page.goto(path);
}

/**
 * Opens a screen and counts the API requests of its first view. The page that was open is left for
 * about:blank first: on a slow machine it may still be starting its own requests (it went quiet
 * while its script was parsed), and those are not this view's. The token stays: sessionStorage
 * lives as long as the tab.
 */
export async function visit(page: Page, path: string): Promise<number> {
  const seen: string[] = [];
  const count = (r: { url: () => string; method: () => string }) => {
    if (new URL(r.url()).pathname.startsWith("/v1/")) seen.push(`${r.method()} ${r.url()}`);
  };
  await page.goto("about:blank");
  page.on("request", count);
  await page.goto(path);
  await page.waitForLoadState("networkidle");
  page.off("request", count);
  if (seen.length > 3) console.log(`first view of ${path}:\n  ${seen.join("\n  ")}`);
  return seen.length;
}

/** axe-core on the screen as it is: no serious or critical violation. */
export async function axe(page: Page, what: string) {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("; ")}`), `axe on ${what}`).toEqual([]);
}

export async function setLanguage(page: Page, lang: "en" | "nl") {
  await page.getByRole("combobox", { name: /^(Language|Taal)$/ }).selectOption(lang);
  await expect(page.locator("html")).toHaveAttribute("lang", lang);
}

/** Screenshots of the screen in English and in Dutch, and axe on both. */
export async function shoot(page: Page, name: string, _info?: TestInfo) {
  mkdirSync(SHOTS, { recursive: true });
  for (const lang of ["en", "nl"] as const) {
    await setLanguage(page, lang);
    await axe(page, `${name} (${lang})`);
    const phone = test.info().project.name === "phone" ? "-phone" : "";
    await page.screenshot({ path: `${SHOTS}/${name}-${lang}${phone}.png`, fullPage: true });
  }
  await setLanguage(page, "en");
}

/** An id as the mailer writes it in an SES message tag (only letters, digits, `-`; every other byte `_` and two hex digits). */
export function tagValue(id: string): string {
  return [...new TextEncoder().encode(id)].map((b) => (/[A-Za-z0-9-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `_${b.toString(16).padStart(2, "0")}`)).join("");
}

/**
 * AWS's documented sample of an SES complaint or hard bounce as EventBridge delivers it
 * (tests/fixtures/events/ of the repository), about `email`, its message tagged with `orgId` and
 * `noticeId` as the mailer tags it: what `POST /dev/ses-events` takes.
 */
export function sesEvent(kind: "complaint" | "bounce", email: string, orgId: string, noticeId: string): unknown {
  const file = new URL(`../../tests/fixtures/events/eventbridge-ses-${kind}.json`, import.meta.url);
  const vars: Record<string, string> = {
    EMAIL: email, ORG_TAG: tagValue(orgId), NOTICE_TAG: tagValue(noticeId), FEEDBACK_ID: uid("fb"), CONFIGURATION_SET: "seatkeeper-local-notices",
    BOUNCE_TYPE: "Permanent", BOUNCE_SUBTYPE: "General", FEEDBACK_TYPE: "abuse",
  };
  return JSON.parse(readFileSync(file, "utf8").replace(/\$\{([A-Z_]+)\}/g, (_, k: string) => vars[k] ?? ""));
}

