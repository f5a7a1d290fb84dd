/** The signed-in session: a bearer token and the claims read from it (not verified here: the API
 * verifies every request; the console only needs to know the role and the org). */
export type Role = "vendor_admin" | "partner_manager" | "company_manager" | "learner" | "platform";

export interface Claims {
  sub: string;
  email: string;
  org_id: string;
  role: Role;
  exp?: number;
}

export interface Session {
  token: string;
  claims: Claims;
}

const KEY = "seatkeeper.token";
const ROLES: Role[] = ["vendor_admin", "partner_manager", "company_manager", "learner", "platform"];
type Listener = (s: Session | null) => void;
const listeners = new Set<Listener>();

export function decodeClaims(token: string): Claims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const c = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Claims>;
    if (typeof c.org_id !== "string" || !ROLES.includes(c.role as Role)) return null;
    return { sub: String(c.sub ?? c.email ?? ""), email: String(c.email ?? c.sub ?? ""), org_id: c.org_id, role: c.role as Role, exp: c.exp };
  } catch {
    return null;
  }
}

function expired(c: Claims): boolean {
  return typeof c.exp === "number" && c.exp * 1000 <= Date.now();
}

export function currentSession(): Session | null {
  const token = sessionStorage.getItem(KEY);
  if (!token) return null;
  const claims = decodeClaims(token);
  if (!claims || expired(claims)) {
    sessionStorage.removeItem(KEY);
    return null;
  }
  return { token, claims };
}

/** Stores a token; false when it carries no usable claims. */
export function signIn(token: string): boolean {
  const claims = decodeClaims(token);
  if (!claims || expired(claims)) return false;
  sessionStorage.setItem(KEY, token);
  const s = { token, claims };
  listeners.forEach((l) => l(s));
  return true;
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l(null));
}

export function onSession(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}
