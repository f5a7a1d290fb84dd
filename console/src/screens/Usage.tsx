import { useCallback } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { api, saveFile, unwrap, type Schemas } from "../api/client";
import { useAction, useLoad } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { Bar, ErrorBox, Loading } from "../components/ui";

type Row = Schemas["UsageRow"];

/** Usage report (docs/domain.md#usage-and-overage): the org, each child, the total; a parent opens a child's. */
export default function Usage() {
  const { t, i18n } = useTranslation();
  const f = useFormat();
  const { orgId: scope } = useOrg();
  const { childId } = useParams();
  const orgId = childId ?? scope;
  const report = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}/usage", { params: { path: { org_id: orgId } } })), [orgId]);
  const csv = useAction(
    useCallback(async () => {
      // A file for the person downloading it: in the console's language.
      const locale = i18n.language === "nl" ? "nl" : "en";
      const blob = await unwrap(api.GET("/v1/orgs/{org_id}/usage", { params: { path: { org_id: orgId }, query: { format: "csv", locale } }, parseAs: "blob" }));
      saveFile(blob as Blob, `usage-${orgId}.csv`);
      return true;
    }, [orgId, i18n.language]),
  );
  const d = report.data;
  const line = (r: Row, kind: "org" | "child" | "total") => (
    <tr key={`${kind}-${r.org_id ?? "total"}`} className={`row-${kind}`}>
      <th scope="row">
        {kind === "child" && r.org_id ? (
          <>
            <Link to={`/usage/${encodeURIComponent(r.org_id)}`} aria-label={t("usage.open", { name: r.name })}>
              {r.name}
            </Link>{" "}
            {/* The help pages: "click on the list icon next to it". */}
            <Link className="icon-link" to={`/usage/${encodeURIComponent(r.org_id)}`} aria-label={t("usage.orgList", { name: r.name })} title={t("usage.orgList", { name: r.name })}>
              <span aria-hidden="true">☰</span>
            </Link>
          </>
        ) : kind === "total" ? (
          t("usage.total")
        ) : (
          r.name
        )}
      </th>
      <td className="num">{f.number(r.limit)}</td>
      <td className="num">{f.number(r.used)}</td>
      <td className="num">{f.number(r.remaining)}</td>
      <td>
        <Bar percent={r.percent_used} label={`${kind === "total" ? t("usage.total") : r.name}: ${t("usage.percent")}`} />
      </td>
      <td>
        <span className={`tag tag-${r.overage.state}`}>{t(`usage.states.${r.overage.state}`)}</span>
        {r.overage.since && <span className="muted"> {t("usage.since", { date: f.date(r.overage.since), days: r.overage.business_days })}</span>}
      </td>
    </tr>
  );
  return (
    <>
      <div className="section-head">
        <h1>
          {t("usage.title")}
          {d && `: ${d.org.name}`}
        </h1>
        <button type="button" disabled={csv.busy} onClick={() => void csv.go()}>
          {t("usage.export")}
        </button>
      </div>
      <ErrorBox error={csv.error} onRetry={() => void csv.go()} />
      <ErrorBox error={report.error} onRetry={report.reload} />
      {report.loading && !d && <Loading />}
      {d && (
        <>
          <table className="usage">
            <thead>
              <tr>
                <th scope="col">{t("usage.name")}</th>
                <th scope="col">{t("usage.limit")}</th>
                <th scope="col">{t("usage.used")}</th>
                <th scope="col">{t("usage.remaining")}</th>
                <th scope="col">{t("usage.percent")}</th>
                <th scope="col">{t("usage.overage")}</th>
              </tr>
            </thead>
            <tbody>
              {line(d.org, "org")}
              {d.children.map((c) => line(c, "child"))}
            </tbody>
            <tfoot>{line(d.total, "total")}</tfoot>
          </table>
          {d.org.reuse && (
            <p>
              {t("usage.reuse", { from: f.date(d.org.reuse.year_from), users: f.number(d.org.reuse.distinct_users), cap: f.number(d.org.reuse.cap) })}
            </p>
          )}
        </>
      )}
    </>
  );
}
