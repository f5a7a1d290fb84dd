/** OpenID Connect sign-in (authorization code + PKCE) with oidc-client-ts: a chunk of its own,
 * loaded only when /config.json says `mode: oidc`. */
import { UserManager, WebStorageStateStore } from "oidc-client-ts";
import type { Config } from "../config";

type OidcConfig = Extract<Config, { mode: "oidc" }>;

function manager(c: OidcConfig): UserManager {
  return new UserManager({
    authority: c.issuer,
    client_id: c.client_id,
    redirect_uri: `${location.origin}/callback`,
    post_logout_redirect_uri: `${location.origin}/sign-in`,
    response_type: "code",
    scope: c.scope ?? "openid email profile",
    userStore: new WebStorageStateStore({ store: sessionStorage }),
    automaticSilentRenew: false,
  });
}

export async function startSignIn(c: OidcConfig, returnTo: string): Promise<void> {
  await manager(c).signinRedirect({ state: { returnTo } });
}

/** Completes the redirect at /callback: the token the API takes, and where to go back to. */
export async function completeSignIn(c: OidcConfig): Promise<{ token: string; returnTo: string }> {
  const user = await manager(c).signinRedirectCallback();
  const token = c.token === "access_token" ? user.access_token : (user.id_token ?? user.access_token);
  const state = user.state as { returnTo?: string } | undefined;
  return { token, returnTo: state?.returnTo ?? "/" };
}
