import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { usePaged } from "../hooks";
import { useOrg, rememberNames } from "../org";
import { useSession } from "../auth/useSession";
import { ErrorBox, Loading, Pager, Menu } from "../components/ui";
import { CreateOrg } from "../components/CreateOrg";

/** Manage company (docs/domain.md#roles-and-reach): pick a customer, then act inside its Licences section. */
export default function Companies() {
  const { t } = useTranslation();
  const { own } = useOrg();
  const role = useSession()?.claims.role;
  const [adding, setAdding] = useState(false);
  const list = usePaged(async (cursor) => {
    const r = await unwrap(api.GET("/v1/orgs/{org_id}/children", { params: { path: { org_id: own }, query: { cursor } } }));
    rememberNames(r.items);
    return r;
  }, [own]);
  return (
    <>
      <div className="section-head">
        <h1>{t("companies.title")}</h1>
        {(role === "partner_manager" || role === "vendor_admin") && (
          <button type="button" aria-expanded={adding} onClick={() => setAdding(!adding)}>
            {t("companies.add")}
          </button>
        )}
      </div>
      <p>{t("companies.intro")}</p>
      {adding && <CreateOrg parents={[{ org_id: own, name: own }]} kinds={["company"]} onCreated={() => list.reload()} />}
      <ErrorBox error={list.error} onRetry={list.reload} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.items.length === 0 && <p>{t("companies.none")}</p>}
      {list.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("common.name")}</th>
              <th scope="col">{t("vendor.kind")}</th>
              <th scope="col">{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((c) => (
              <tr key={c.org_id}>
                <td>
                  {c.name} <span className="muted">({c.org_id})</span>
                </td>
                <td>{t(`vendor.kinds.${c.kind}`)}</td>
                <td>
                  {c.kind === "company" && (
                    <Menu label={`${t("companies.actions")}: ${c.name}`} shown={t("companies.actions")}>
                      <Link className="button" to={`/companies/${encodeURIComponent(c.org_id)}/licences`} aria-label={`${t("companies.manageOne")}: ${c.name}`}>
                        {t("companies.manageOne")}
                      </Link>
                    </Menu>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...list} />
    </>
  );
}
