import { useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Field, Loading, Pager } from "../components/ui";

const STATUSES = ["new", "active", "expired"] as const;

/**
 * "Enrolments > All" (the help pages): every enrolment of the company, or those of one learning
 * experience, each with its status now and a link to its learner; the filters live in the URL.
 */
export default function Enrolments() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId, base } = useOrg();
  const [search, setSearch] = useSearchParams();
  const run = search.get("enrolment_id") ?? "";
  const status = (STATUSES as readonly string[]).includes(search.get("status") ?? "") ? (search.get("status") as (typeof STATUSES)[number]) : undefined;
  const [typed, setTyped] = useState(run);
  // The box follows the URL (back, or the nav link), not only the first view.
  useEffect(() => setTyped(run), [run]);
  const rows = usePaged(
    (cursor) =>
      unwrap(
        api.GET("/v1/orgs/{org_id}/enrolments", {
          params: { path: { org_id: orgId }, query: { cursor, ...(run ? { enrolment_id: run } : {}), ...(status ? { status } : {}) } },
        }),
      ),
    [orgId, run, status],
  );
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(search);
    if (v) n.set(k, v);
    else n.delete(k);
    setSearch(n, { replace: true });
  };
  const apply = (e: FormEvent) => {
    e.preventDefault();
    set("enrolment_id", typed.trim());
  };
  return (
    <>
      <h1>{t("enrolments.title")}</h1>
      <section aria-labelledby="all-h">
        <h2 id="all-h">{t("enrolments.all")}</h2>
        <form className="filters" onSubmit={apply} aria-label={t("enrolments.filters")}>
          <Field label={t("enrolments.experience")}>{(id) => <input id={id} value={typed} onChange={(e) => setTyped(e.target.value)} />}</Field>
          <button type="submit">{t("common.apply")}</button>
          <Field label={t("common.status")}>
            {(id) => (
              <select id={id} value={status ?? ""} onChange={(e) => set("status", e.target.value)}>
                <option value="">{t("common.all")}</option>
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {t(`users.enrolmentStatus.${s}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </form>
        <ErrorBox error={rows.error} onRetry={rows.reload} />
        {rows.loading && !rows.data && <Loading />}
        {rows.data && rows.items.length === 0 && <p>{rows.hasPrev || rows.hasNext ? t("common.emptyPage") : t("users.noEnrolments")}</p>}
        {rows.items.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("common.email")}</th>
                <th scope="col">{t("enrolments.experience")}</th>
                <th scope="col">{t("common.status")}</th>
                <th scope="col">{t("users.startsAt")}</th>
                <th scope="col">{t("users.endsAt")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.items.map((e) => (
                <tr key={`${e.email}/${e.enrolment_id}`}>
                  <td>
                    <Link to={`${base}/users/${encodeURIComponent(e.email)}`}>{e.email}</Link>
                  </td>
                  <td>{e.enrolment_id}</td>
                  <td>
                    <span className={`tag tag-${e.status}`}>{t(`users.enrolmentStatus.${e.status}`)}</span>
                  </td>
                  <td>{e.starts_at ? f.date(e.starts_at) : ""}</td>
                  <td>{e.ends_at ? f.date(e.ends_at) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager {...rows} />
      </section>
    </>
  );
}
