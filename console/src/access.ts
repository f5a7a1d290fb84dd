import { useEffect, useState } from "react";
import { api, ApiError, unwrap } from "./api/client";

const KEY = "seatkeeper.access";

/** Whether this session's company manager has lost access (their own licence expired or was
 * released), as last checked in this session: `null` when not checked yet. */
export function knownLost(token: string): boolean | null {
  try {
    const v = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as { token: string; lost: boolean } | null;
    return v && v.token === token ? v.lost : null;
  } catch {
    return null;
  }
}

/** Remembers for this session what the access check answered (the access page checks again). */
export function rememberLost(token: string, lost: boolean) {
  sessionStorage.setItem(KEY, JSON.stringify({ token, lost }));
}

/** Where a manager who lost access may still go: the page with the renewal instructions, and the
 * request form it links to (as the help pages say). */
export const OPEN_WHEN_LOST = ["/access", "/licences/orders"];

/**
 * Whether the signed-in company manager has lost access, checked once per session (`check`
 * false: never, e.g. for other roles or a partner managing a company). `undefined` while
 * asking. A check the API cannot answer (the manager is no user of the org, or it failed) leaves
 * the console open: the access page says what the API says.
 */
export function useLostAccess(token: string, orgId: string, email: string, check: boolean): boolean | undefined {
  const [lost, setLost] = useState<boolean | undefined>(() => (check ? (knownLost(token) ?? undefined) : false));
  useEffect(() => {
    if (!check || knownLost(token) !== null) return;
    let live = true;
    unwrap(api.GET("/v1/orgs/{org_id}/users/{email}/access", { params: { path: { org_id: orgId, email } } })).then(
      (a) => {
        const gone = !a.access && (a.reason === "expired" || a.reason === "released");
        rememberLost(token, gone);
        if (live) setLost(gone);
      },
      (e) => {
        // A refusal that will not change (the manager is no user of the org: 404) is kept for
        // the session; a failure for now (5xx, a lost connection) is asked again next time.
        if (e instanceof ApiError && e.status < 500) rememberLost(token, false);
        if (live) setLost(false);
      },
    );
    return () => {
      live = false;
    };
  }, [token, orgId, email, check]);
  // What the session last learned wins: the access page checks again, and a manager whose
  // licence was renewed meanwhile has every screen back at the next click.
  return check ? (knownLost(token) ?? lost) : false;
}
