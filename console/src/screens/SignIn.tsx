import { useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useLocation, useNavigate } from "react-router";
import { loadConfig, type Config } from "../config";
import { signIn, type Role } from "../auth/session";
import { useLoad } from "../hooks";
import { ErrorBox, Field, Loading } from "../components/ui";
import { LanguageSwitch } from "../components/LanguageSwitch";

const ROLES: Role[] = ["company_manager", "partner_manager", "vendor_admin", "learner"];


/** Local: pick role, org and e-mail, and the local server signs a token (POST /dev/token, a local
 * route outside the API contract). Cloud: OpenID Connect (authorization code + PKCE). */
export function SignIn() {
  const { t } = useTranslation();
  const location = useLocation();
  const navigate = useNavigate();
  const state = (location.state ?? {}) as { from?: string; expired?: boolean };
  const config = useLoad(loadConfig, []);
  const [ended] = useState(() => {
    const e = state.expired || sessionStorage.getItem("seatkeeper.ended") === "1";
    sessionStorage.removeItem("seatkeeper.ended");
    return e;
  });
  const [role, setRole] = useState<Role>("company_manager");
  const [org, setOrg] = useState("");
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const from = state.from && state.from !== "/sign-in" ? state.from : "/";

  async function local(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await fetch("/dev/token", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ role, org_id: org.trim(), ...(email.trim() ? { email: email.trim() } : {}) }),
      });
      const body = (await r.json()) as { token?: string; error?: { message: string } };
      if (!r.ok || !body.token || !signIn(body.token)) throw new Error(body.error?.message ?? `HTTP ${r.status}`);
      navigate(from, { replace: true });
    } catch (err) {
      setError(err instanceof TypeError ? t("errors.offline") : String((err as Error).message));
    } finally {
      setBusy(false);
    }
  }

  async function oidc(c: Extract<Config, { mode: "oidc" }>) {
    setBusy(true);
    try {
      const m = await import("../auth/oidc");
      await m.startSignIn(c, from);
    } catch (err) {
      setError(String((err as Error).message));
      setBusy(false);
    }
  }

  return (
    <main id="main" className="signin">
      <h1>{t("signIn.title")}</h1>
      <LanguageSwitch />
      {ended && <p role="status" className="alert alert-warn">{t("signIn.expired")}</p>}
      {config.loading && <Loading />}
      <ErrorBox error={config.error} onRetry={config.reload} />
      {error && (
        <div role="alert" className="alert alert-error">
          <p>{t("signIn.failed", { reason: error })}</p>
        </div>
      )}
      {config.data?.mode === "local" && (
        <form onSubmit={local} className="card">
          <p>{t("signIn.local")}</p>
          <Field label={t("signIn.role")}>
            {(id) => (
              <select id={id} value={role} onChange={(e) => setRole(e.target.value as Role)}>
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {t(`roles.${r}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t("signIn.org")}>{(id) => <input id={id} required value={org} onChange={(e) => setOrg(e.target.value)} autoComplete="organization" />}</Field>
          <Field label={t("signIn.email")}>{(id) => <input id={id} type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" />}</Field>
          <button type="submit" className="primary" disabled={busy}>
            {t("signIn.submit")}
          </button>
        </form>
      )}
      {config.data?.mode === "oidc" && (
        <div className="card">
          <p>{t("signIn.oidc")}</p>
          <button type="button" className="primary" disabled={busy} onClick={() => oidc(config.data as Extract<Config, { mode: "oidc" }>)}>
            {t("signIn.oidcButton")}
          </button>
        </div>
      )}
    </main>
  );
}

/** One completion per page load (StrictMode runs effects twice; a code is good for one exchange). */
let completing: Promise<string> | null = null;

/** The OpenID provider redirects back here with the authorization code. */
export function Callback() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    completing ??= (async () => {
      const c = await loadConfig();
      if (c.mode !== "oidc") throw new Error("not an OpenID Connect configuration");
      const m = await import("../auth/oidc");
      const { token, returnTo } = await m.completeSignIn(c);
      if (!signIn(token)) throw new Error("the token carries no org_id and role");
      return returnTo;
    })();
    completing.then(
      (returnTo) => live && navigate(returnTo, { replace: true }),
      (e) => live && setError(String((e as Error).message)),
    );
    return () => {
      live = false;
    };
  }, [navigate]);
  return (
    <main id="main" className="signin">
      <h1>{t("signIn.title")}</h1>
      {error ? (
        <div role="alert" className="alert alert-error">
          <p>{t("signIn.failed", { reason: error })}</p>
        </div>
      ) : (
        <p role="status">{t("signIn.completing")}</p>
      )}
    </main>
  );
}
