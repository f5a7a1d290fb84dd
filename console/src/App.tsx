import { lazy, Suspense, useEffect, type ReactNode } from "react";
import { BrowserRouter, Navigate, NavLink, Outlet, Route, Routes, useLocation, useNavigate, useParams } from "react-router";
import { OPEN_WHEN_LOST, useLostAccess } from "./access";
import { useTranslation } from "react-i18next";
import { useSession } from "./auth/useSession";
import { signOut, type Role } from "./auth/session";
import { setUnauthenticatedHandler } from "./api/client";
import { LanguageSwitch } from "./components/LanguageSwitch";
import { Loading } from "./components/ui";
import { useOrg } from "./org";
import { ManageBanner } from "./components/ManageBanner";
import { SignIn, Callback } from "./screens/SignIn";
import { Home } from "./screens/Home";

const Licences = lazy(() => import("./screens/Licences"));
const RequestedOrders = lazy(() => import("./screens/RequestedOrders"));
const Companies = lazy(() => import("./screens/Companies"));
const Renewals = lazy(() => import("./screens/Renewals"));
const Usage = lazy(() => import("./screens/Usage"));
const Users = lazy(() => import("./screens/Users"));
const UserDetail = lazy(() => import("./screens/UserDetail"));
const Access = lazy(() => import("./screens/Access"));
const Vendor = lazy(() => import("./screens/Vendor"));
const PolicyForm = lazy(() => import("./screens/Policy"));
const Notifications = lazy(() => import("./screens/Notifications"));
const Audit = lazy(() => import("./screens/Audit"));
const RenewalsAhead = lazy(() => import("./screens/RenewalsAhead"));
const Enrolments = lazy(() => import("./screens/Enrolments"));

function RequireAuth({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (!session) return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

type Item = { to: string; label: string };

function navItems(role: Role, base: string, managed: boolean): Item[] {
  const company: Item[] = [
    { to: `${base}/licences`, label: "nav.licences" },
    { to: `${base}/users`, label: "nav.users" },
    { to: `${base}/enrolments`, label: "nav.enrolments" },
    { to: `${base}/renewals`, label: "nav.renewals" },
    { to: `${base}/usage`, label: "nav.usage" },
    { to: `${base}/notifications`, label: "nav.notifications" },
    { to: `${base}/audit`, label: "nav.audit" },
  ];
  if (managed) return company;
  switch (role) {
    case "company_manager":
      return [...company, { to: "/access", label: "nav.access" }];
    case "partner_manager":
      return [
        { to: "/orders", label: "nav.orders" },
        { to: "/ahead", label: "nav.ahead" },
        { to: "/companies", label: "nav.companies" },
        { to: "/usage", label: "nav.usage" },
        { to: "/notifications", label: "nav.notifications" },
        { to: "/audit", label: "nav.audit" },
      ];
    case "vendor_admin":
      return [
        { to: "/vendor", label: "nav.vendor" },
        { to: "/orders", label: "nav.orders" },
        { to: "/ahead", label: "nav.ahead" },
        { to: "/companies", label: "nav.companies" },
        { to: "/usage", label: "nav.usage" },
        { to: "/notifications", label: "nav.notifications" },
        { to: "/audit", label: "nav.audit" },
      ];
    case "platform":
      return [{ to: "/users", label: "nav.users" }];
    default:
      return [{ to: "/access", label: "nav.access" }];
  }
}

function Layout() {
  const { t } = useTranslation();
  const session = useSession()!;
  const { base, managed } = useOrg();
  const navigate = useNavigate();
  return (
    <>
      <a className="skip" href="#main">
        {t("app.skip")}
      </a>
      <header className="top">
        <span className="brand">{t("app.name")}</span>
        <span className="who">
          {t("app.signedInAs", { email: session.claims.email, role: t(`roles.${session.claims.role}`), org: session.claims.org_id })}
        </span>
        <LanguageSwitch />
        <button
          type="button"
          onClick={() => {
            signOut();
            navigate("/sign-in");
          }}
        >
          {t("app.signOut")}
        </button>
      </header>
      <div className="frame">
        <nav className="side" aria-label={t("app.nav")}>
          <ul>
            {navItems(session.claims.role, base, managed).map((i) => (
              <li key={i.to}>
                <NavLink to={i.to}>{t(i.label)}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          {managed && <ManageBanner />}
          <Suspense fallback={<Loading />}>
            <AccessGuard>
              <Outlet />
            </AccessGuard>
          </Suspense>
        </main>
      </div>
    </>
  );
}

/** A company manager whose own licence has expired (or was released) is sent to the access page
 * with the renewal instructions from whichever screen they open, except the request form it
 * links to (as the help pages say; docs/domain.md#access). Checked once per session; a partner or vendor
 * managing a company is not checked. */
function AccessGuard({ children }: { children: ReactNode }) {
  const session = useSession()!;
  const { managed } = useOrg();
  const location = useLocation();
  const { role, org_id, email } = session.claims;
  const lost = useLostAccess(session.token, org_id, email, role === "company_manager" && !managed);
  if (lost === undefined) return <Loading />;
  const open = OPEN_WHEN_LOST.some((p) => location.pathname === p || location.pathname.startsWith(`${p}/`));
  if (lost && !open) return <Navigate to="/access" replace />;
  return <>{children}</>;
}

/** A 401 from the API goes back to sign-in, then to where the user was. */
function UnauthenticatedRedirect() {
  const navigate = useNavigate();
  useEffect(() => {
    setUnauthenticatedHandler(() => navigate("/sign-in", { replace: true, state: { from: location.pathname + location.search, expired: true } }));
  }, [navigate]);
  return null;
}

function TitleFromLanguage() {
  const { t, i18n } = useTranslation();
  useEffect(() => {
    document.title = t("app.name");
  }, [i18n.language, t]);
  return null;
}

/** A user's page, made anew for each user (nothing of the last one's actions carried over). */
function KeyedUserDetail() {
  const { email } = useParams();
  return <UserDetail key={email} />;
}

const companyRoutes = (
  <>
    <Route path="licences/*" element={<Licences />} />
    <Route path="users" element={<Users />} />
    <Route path="users/:email" element={<KeyedUserDetail />} />
    <Route path="enrolments" element={<Enrolments />} />
    <Route path="renewals" element={<Renewals />} />
    <Route path="usage" element={<Usage />} />
    <Route path="notifications" element={<Notifications />} />
    <Route path="audit" element={<Audit />} />
  </>
);

export function App() {
  return (
    <BrowserRouter>
      <UnauthenticatedRedirect />
      <TitleFromLanguage />
      <Routes>
        <Route path="/sign-in" element={<SignIn />} />
        <Route path="/callback" element={<Callback />} />
        <Route
          element={
            <RequireAuth>
              <Layout />
            </RequireAuth>
          }
        >
          <Route index element={<Home />} />
          {companyRoutes}
          <Route path="usage/:childId" element={<Usage />} />
          <Route path="orders" element={<RequestedOrders />} />
          <Route path="ahead" element={<RenewalsAhead />} />
          <Route path="companies" element={<Companies />} />
          <Route path="companies/:orgId">{companyRoutes}</Route>
          <Route path="access" element={<Access />} />
          <Route path="vendor" element={<Vendor />} />
          <Route path="vendor/:policyOrg/policy" element={<PolicyForm />} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Route>
      </Routes>
    </BrowserRouter>
  );
}
