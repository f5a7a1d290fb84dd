import { useState } from "react";
import { Navigate } from "react-router";
import { useSession } from "../auth/useSession";
import { api, ApiError, unwrap } from "../api/client";
import { useLoad } from "../hooks";
import { Loading } from "../components/ui";

const CHECKED = "seatkeeper.access-checked";

/** Where each role starts. A company manager whose own licence has expired lands on the access
 * page with the renewal instructions (docs/domain.md#access); checked once per session. */
export function Home() {
  const session = useSession()!;
  const { role, org_id, email } = session.claims;
  const [check] = useState(() => role === "company_manager" && sessionStorage.getItem(CHECKED) !== session.token);
  const access = useLoad(async () => {
    if (!check) return null;
    try {
      return await unwrap(api.GET("/v1/orgs/{org_id}/users/{email}/access", { params: { path: { org_id, email } } }));
    } catch (e) {
      if (e instanceof ApiError) return null;
      throw e;
    } finally {
      sessionStorage.setItem(CHECKED, session.token);
    }
  }, [check, org_id, email]);
  if (check && access.loading) return <Loading />;
  const lost = access.data && !access.data.access && (access.data.reason === "expired" || access.data.reason === "released");
  switch (role) {
    case "company_manager":
      return <Navigate to={lost ? "/access" : "/licences"} replace />;
    case "partner_manager":
      return <Navigate to="/orders" replace />;
    case "vendor_admin":
      return <Navigate to="/vendor" replace />;
    case "platform":
      return <Navigate to="/users" replace />;
    default:
      return <Navigate to="/access" replace />;
  }
}
