import { expect, test } from "@playwright/test";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";
import { token } from "./helpers";

// The cloud's sign-in: /config.json says `mode: oidc`, and the console signs in with the
// authorization code flow + PKCE (oidc-client-ts) against a real OpenID provider (oidc-provider,
// with its development login and consent pages) on loopback. The local API only takes its own
// HS256 tokens, so the API answers here are stood in for; what is checked is the flow and the
// bearer token the console then sends.
test("OIDC sign-in: authorization code + PKCE against a local OpenID provider; #token= is ignored in the cloud", async ({ page, baseURL }) => {
  let issuer = "";
  const provider = await new Promise<{ close: () => void }>((resolve) => {
    const p = new Provider("http://127.0.0.1", {
      clients: [
        {
          client_id: "seatkeeper-console",
          token_endpoint_auth_method: "none",
          redirect_uris: [`${baseURL}/callback`],
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
      ],
      pkce: { methods: ["S256"], required: () => true },
      features: { devInteractions: { enabled: true } },
      scopes: ["openid", "email", "seatkeeper"],
      claims: { openid: ["sub"], email: ["email"], seatkeeper: ["org_id", "role"] },
      conformIdTokenClaims: false,
      clientBasedCORS: () => true,
      cookies: { keys: ["console-test"] },
      async findAccount(_ctx: unknown, id: string) {
        return { accountId: id, claims: async () => ({ sub: id, email: `${id}@globex.example`, org_id: "globex", role: "learner" }) };
      },
    });
    const server = p.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      issuer = `http://127.0.0.1:${port}`;
      (p as unknown as { issuer: string }).issuer = issuer;
      resolve({ close: () => server.close() });
    });
  });
  try {
    await page.route("**/config.json", (r) => r.fulfill({ json: { mode: "oidc", issuer, client_id: "seatkeeper-console", scope: "openid email seatkeeper" } }));
    const bearers: string[] = [];
    await page.route("**/v1/**", (r) => {
      bearers.push(r.request().headers()["authorization"] ?? "");
      return r.fulfill({ json: { email: "lena@globex.example", access: true, reason: "active", licence: null } });
    });

    // A token in the URL signs nobody in when the console is not local.
    const local = await token("learner", "globex", "lena@globex.example");
    await page.goto(`/access#token=${local}`);
    await expect(page).toHaveURL(/\/sign-in$/);
    await expect(page.getByText("Sign in with your organisation's account.")).toBeVisible();

    const [auth] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(`${issuer}/auth`)),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
    const q = new URL(auth.url()).searchParams;
    expect([q.get("response_type"), q.get("code_challenge_method"), q.get("client_id")]).toEqual(["code", "S256", "seatkeeper-console"]);
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await page.locator('input[name="login"]').fill("lena");
    await page.locator('input[name="password"]').fill("any");
    await page.locator('button[type="submit"]').click();
    await page.locator('button[type="submit"]').click(); // the consent page
    await expect(page).toHaveURL(new RegExp(`^${baseURL}/access$`));
    await expect(page.getByText("Your licence is active.")).toBeVisible();
    await expect(page.getByText(/Signed in as lena@globex.example/)).toBeVisible();

    const sent = bearers.at(-1)!.replace(/^Bearer /, "");
    const claims = JSON.parse(Buffer.from(sent.split(".")[1], "base64url").toString());
    expect([claims.iss, claims.aud, claims.org_id, claims.role, claims.email]).toEqual([issuer, "seatkeeper-console", "globex", "learner", "lena@globex.example"]);
    expect(JSON.parse(Buffer.from(sent.split(".")[0], "base64url").toString()).alg).toBe("RS256");
  } finally {
    provider.close();
  }
});
