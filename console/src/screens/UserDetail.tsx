import { useCallback } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { api, unwrap } from "../api/client";
import { useAction, useLoad, usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Loading, Pager, Success } from "../components/ui";

/** One user: the licence, the enrolments, and Release. */
export default function UserDetail() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId, base } = useOrg();
  const email = useParams().email ?? "";
  const user = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}/users/{email}", { params: { path: { org_id: orgId, email } } })), [orgId, email]);
  const enrolments = usePaged(
    (cursor) => unwrap(api.GET("/v1/orgs/{org_id}/users/{email}/enrolments", { params: { path: { org_id: orgId, email }, query: { cursor } } })),
    [orgId, email],
  );
  const release = useAction(
    useCallback(
      (key: string) => unwrap(api.DELETE("/v1/orgs/{org_id}/users/{email}", { params: { path: { org_id: orgId, email }, header: { "Idempotency-Key": key } } })),
      [orgId, email],
    ),
  );
  const u = user.data;
  return (
    <>
      <p>
        <Link to={`${base}/users`}>← {t("users.title")}</Link>
      </p>
      <h1>{t("users.details", { email })}</h1>
      <ErrorBox error={user.error} onRetry={user.reload} />
      {user.loading && !u && <Loading />}
      {u && (
        <dl className="facts facts-wide">
          <div>
            <dt>{t("common.name")}</dt>
            <dd>{u.name ?? "—"}</dd>
          </div>
          <div>
            <dt>{t("users.licence")}</dt>
            <dd>{t(`users.licenceStatus.${u.licence_status ?? "none"}`)}</dd>
          </div>
          <div>
            <dt>{t("licences.validUntil")}</dt>
            <dd>{f.date(u.licence?.valid_until)}</dd>
          </div>
          <div>
            <dt>{t("renewals.licenceCount")}</dt>
            <dd>{f.number(u.licence_count)}</dd>
          </div>
          <div>
            <dt>{t("renewals.lastLogin")}</dt>
            <dd>{f.date(u.last_login_at)}</dd>
          </div>
        </dl>
      )}
      {u && u.licence_status !== "released" && (
        <button type="button" className="danger" disabled={release.busy} onClick={() => void release.go().then((r) => r && user.reload())}>
          {t("users.release")}
        </button>
      )}
      {release.result && <Success>{t("users.released", { email })}</Success>}
      <ErrorBox error={release.error} onRetry={() => void release.retry()} />
      <section aria-labelledby="enr-h">
        <h2 id="enr-h">{t("users.enrolments")}</h2>
        <ErrorBox error={enrolments.error} onRetry={enrolments.reload} />
        {enrolments.loading && !enrolments.data && <Loading />}
        {enrolments.data && enrolments.items.length === 0 && !enrolments.hasNext && <p>{t("users.noEnrolments")}</p>}
        {enrolments.items.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("users.enrolment")}</th>
                <th scope="col">{t("common.status")}</th>
                <th scope="col">{t("users.startsAt")}</th>
                <th scope="col">{t("users.endsAt")}</th>
              </tr>
            </thead>
            <tbody>
              {enrolments.items.map((e) => (
                <tr key={e.enrolment_id}>
                  <td>{e.enrolment_id}</td>
                  <td>{t(`users.enrolmentStatus.${e.status}`)}</td>
                  <td>{f.date(e.starts_at)}</td>
                  <td>{f.date(e.ends_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager {...enrolments} />
      </section>
    </>
  );
}
