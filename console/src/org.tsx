import { useParams } from "react-router";
import { useSession } from "./auth/useSession";

/** The org a screen acts on: the managed company of the URL (`/companies/{org_id}/…`), else the
 * signed-in principal's own org; `base` prefixes links so the managed company stays in the URL. */
export function useOrg() {
  const { orgId } = useParams();
  const session = useSession();
  const own = session?.claims.org_id ?? "";
  const id = orgId ?? own;
  return { orgId: id, own, managed: !!orgId && orgId !== own, base: orgId ? `/companies/${encodeURIComponent(orgId)}` : "" };
}

const NAMES = "seatkeeper.names";

/** Org names seen in lists, kept for the manage-mode banner (no extra request after a pick). */
export function rememberNames(orgs: { org_id: string; name: string }[]): void {
  const m = { ...readNames(), ...Object.fromEntries(orgs.map((o) => [o.org_id, o.name])) };
  sessionStorage.setItem(NAMES, JSON.stringify(m));
}

export function readNames(): Record<string, string> {
  try {
    return JSON.parse(sessionStorage.getItem(NAMES) ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
}
