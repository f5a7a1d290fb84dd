import { Navigate } from "react-router";
import { useSession } from "../auth/useSession";

/** Where each role starts. A company manager whose own licence has expired is sent on to the
 * access page with the renewal instructions by the layout's guard, from here as from every
 * screen (`AccessGuard` in App.tsx). */
export function Home() {
  switch (useSession()!.claims.role) {
    case "company_manager":
      return <Navigate to="/licences" replace />;
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
