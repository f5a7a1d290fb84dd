import { useCallback, useState } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { api, saveFile, unwrap } from "../api/client";
import { useAction, useLoad } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Field, Loading, Success, Switch } from "../components/ui";

function monthAhead(): string {
  const d = new Date();
  const day = d.getUTCDate();
  const n = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
  const last = new Date(Date.UTC(n.getUTCFullYear(), n.getUTCMonth() + 1, 0)).getUTCDate();
  n.setUTCDate(Math.min(day, last));
  return n.toISOString().slice(0, 10);
}

/** Renewals (docs/domain.md#the-renewal-forecast): who renews up to a date, and the Renewable switch. */
export default function Renewals() {
  const { t, i18n } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const [search, setSearch] = useSearchParams();
  const until = /^\d{4}-\d{2}-\d{2}$/.test(search.get("until") ?? "") ? search.get("until")! : monthAhead();
  const rows = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}/renewals", { params: { path: { org_id: orgId }, query: { until } } })), [orgId, until]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const items = rows.data?.items ?? [];
  const all = items.length > 0 && items.every((r) => selected.has(r.email));
  const mark = useAction(
    useCallback(
      (key: string, emails: string[], renewable: boolean) =>
        unwrap(api.POST("/v1/orgs/{org_id}/users/renewable", { params: { path: { org_id: orgId }, header: { "Idempotency-Key": key } }, body: { emails, renewable } })),
      [orgId],
    ),
  );
  const download = useAction(
    useCallback(
      async (_key: string, format: "xlsx" | "csv") => {
        // A file for the person downloading it: in the console's language.
        const locale = i18n.language === "nl" ? "nl" : "en";
        const blob = await unwrap(api.GET("/v1/orgs/{org_id}/renewals", { params: { path: { org_id: orgId }, query: { until, format, locale } }, parseAs: "blob" }));
        saveFile(blob as Blob, `renewals-${orgId}-${until}.${format}`);
        return true;
      },
      [orgId, until, i18n.language],
    ),
  );
  // Made renewable again within a term of a refused renewal: renewed then, or blocked by the balance.
  const outcomes = mark.result?.results ?? [];
  const renewedAgain = outcomes.filter((r) => r.outcome === "renewed").length;
  const blockedAgain = outcomes.filter((r) => r.outcome === "renewal_blocked");
  async function set(emails: string[], renewable: boolean) {
    const r = await mark.go(emails, renewable);
    if (r) {
      setSelected(new Set());
      rows.reload();
    }
  }
  const toggle = (e: string) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(e)) n.delete(e);
      else n.add(e);
      return n;
    });
  return (
    <>
      <h1>{t("renewals.title")}</h1>
      <p>{t("renewals.intro")}</p>
      <div className="card filters">
        <Field label={t("renewals.until")}>
          {(id) => <input id={id} type="date" value={until} required onChange={(e) => e.target.value && setSearch({ until: e.target.value }, { replace: true })} />}
        </Field>
        <div className="actions">
          <button type="button" disabled={download.busy} onClick={() => void download.go("xlsx")}>
            {t("renewals.downloadExcel")}
          </button>
          <button type="button" disabled={download.busy} onClick={() => void download.go("csv")}>
            {t("renewals.downloadCsv")}
          </button>
        </div>
      </div>
      <ErrorBox error={download.error} onRetry={() => void download.go("xlsx")} />
      <div className="actions bulk">
        <span className="muted">{t("common.selected", { count: selected.size })}</span>
        <button type="button" disabled={selected.size === 0 || mark.busy} onClick={() => void set([...selected], false)}>
          {t("renewals.notRenewable")}
        </button>
        <button type="button" disabled={selected.size === 0 || mark.busy} onClick={() => void set([...selected], true)}>
          {t("renewals.makeRenewable")}
        </button>
      </div>
      {mark.result && (
        <Success>
          {t("renewals.updated", { count: mark.result.updated })}
          {renewedAgain > 0 && ` ${t("renewals.renewedAgain", { count: renewedAgain })}`}
        </Success>
      )}
      {blockedAgain.map((r) => (
        <div key={r.email} role="alert" className="alert alert-error">
          <p>{t("renewals.blockedAgain", { email: r.email })}</p>
        </div>
      ))}
      <ErrorBox error={mark.error} />
      <ErrorBox error={rows.error} onRetry={rows.reload} />
      {rows.loading && !rows.data && <Loading />}
      {rows.data && items.length === 0 && <p>{t("renewals.none")}</p>}
      {items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col" className="check">
                <label>
                  <input type="checkbox" checked={all} onChange={() => setSelected(all ? new Set() : new Set(items.map((r) => r.email)))} />
                  <span>{t("renewals.selectAll")}</span>
                </label>
              </th>
              <th scope="col">{t("common.name")}</th>
              <th scope="col">{t("renewals.licenceDate")}</th>
              <th scope="col">{t("renewals.renewalDate")}</th>
              <th scope="col">{t("renewals.licenceCount")}</th>
              <th scope="col">{t("renewals.lastLogin")}</th>
              <th scope="col">{t("renewals.willRenew")}</th>
              <th scope="col">{t("renewals.renewable")}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.email} data-email={r.email}>
                <td className="check">
                  <input type="checkbox" aria-label={t("renewals.select", { email: r.email })} checked={selected.has(r.email)} onChange={() => toggle(r.email)} />
                </td>
                <td>
                  {r.name ?? ""} <span className="muted">{r.email}</span>
                </td>
                <td>{f.date(r.licence_date)}</td>
                <td>{f.date(r.renewal_date)}</td>
                <td className="num">{f.number(r.licence_count)}</td>
                <td>{f.date(r.last_login_at)}</td>
                <td>
                  {r.will_renew ? t("common.yes") : t("common.no")}
                  {!r.will_renew && r.reason && <span className="muted"> — {t(`renewals.reasons.${r.reason}`)}</span>}
                </td>
                <td>
                  <Switch checked={r.renewable} disabled={mark.busy} label={t("renewals.switchFor", { email: r.email })} onChange={(v) => void set([r.email], v)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
