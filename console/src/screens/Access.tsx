import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api, ApiError, unwrap } from "../api/client";
import { useSession } from "../auth/useSession";
import { useEffect } from "react";
import { useLoad } from "../hooks";
import { rememberLost } from "../access";
import { useFormat } from "../format";
import { ErrorBox, Loading } from "../components/ui";

/** The access landing page (docs/domain.md#access): a learner or manager whose licence has expired is told what
 * happened and how to renew. */
export default function Access() {
  const { t } = useTranslation();
  const f = useFormat();
  const session = useSession()!;
  const { org_id, email, role } = session.claims;
  const access = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}/users/{email}/access", { params: { path: { org_id, email } } })), [org_id, email]);
  const a = access.data;
  const manager = role === "company_manager";
  // Checked again here: a manager whose licence was renewed meanwhile has every screen back.
  useEffect(() => {
    if (manager && a) rememberLost(session.token, !a.access && (a.reason === "expired" || a.reason === "released"));
  }, [manager, a, session.token]);
  // Whom to reach: the orders contacts of the partner above the company (its account manager).
  const contacts = useLoad(
    async () => (manager ? ((await unwrap(api.GET("/v1/orgs/{org_id}", { params: { path: { org_id } } }))).account_contacts ?? []) : []),
    [manager, org_id],
  );
  const notUser = access.error instanceof ApiError && access.error.code === "not_found";
  return (
    <>
      <h1>{t("access.title")}</h1>
      {access.loading && !a && <Loading />}
      {notUser ? <p>{t("access.notAUser", { email })}</p> : <ErrorBox error={access.error} onRetry={access.reload} />}
      {a?.access && (
        <div className="alert alert-ok" role="status">
          <p>{a.reason === "pending" ? t("access.reasons.pending") : t("access.active")}</p>
          {a.licence?.valid_until && <p>{t("access.validUntil", { date: f.date(a.licence.valid_until) })}</p>}
        </div>
      )}
      {a && !a.access && (
        <>
          <div className="alert alert-error" role="alert">
            <p>
              <strong>{t("access.lost")}</strong>
            </p>
          </div>
          <section aria-labelledby="what-h" className="card">
            <h2 id="what-h">{t("access.whatHappened")}</h2>
            <p>{t(`access.reasons.${a.reason}`)}</p>
            {a.reason === "expired" && a.licence?.valid_until && <p>{t("access.expiredOn", { date: f.date(a.licence.valid_until) })}</p>}
          </section>
          <section aria-labelledby="how-h" className="card">
            <h2 id="how-h">{t("access.instructions")}</h2>
            <p>{manager ? t("access.managerSteps") : t("access.learnerSteps")}</p>
            <p>{t("access.contact")}</p>
            <ErrorBox error={contacts.error} onRetry={contacts.reload} />
            {contacts.data && contacts.data.length > 0 && (
              <ul aria-label={t("access.accountManagers")}>
                {contacts.data.map((c) => (
                  <li key={c.email}>
                    {c.name ? `${c.name} ` : ""}
                    <a href={`mailto:${c.email}`}>{c.email}</a>
                  </li>
                ))}
              </ul>
            )}
            {manager && (
              <Link className="button primary" to="/licences/orders?request=1">
                {t("access.goOrder")}
              </Link>
            )}
          </section>
        </>
      )}
    </>
  );
}
