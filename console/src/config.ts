/** What `/config.json` says: the local server, or an OpenID Connect provider in the cloud. */
export type Config =
  | { mode: "local" }
  | { mode: "oidc"; issuer: string; client_id: string; scope?: string; token?: "id_token" | "access_token" };

let loaded: Promise<Config> | null = null;

export function loadConfig(): Promise<Config> {
  loaded ??= fetch("/config.json", { headers: { accept: "application/json" }, cache: "no-store" })
    .then(async (r) => {
      if (!r.ok) throw new Error(`config.json: HTTP ${r.status}`);
      const c = (await r.json()) as Partial<Config>;
      if (c.mode === "local") return { mode: "local" } as Config;
      if (c.mode === "oidc" && "issuer" in c && "client_id" in c && c.issuer && c.client_id) return c as Config;
      throw new Error("config.json: mode must be local, or oidc with issuer and client_id");
    })
    .catch((e) => {
      loaded = null;
      throw e;
    });
  return loaded;
}
