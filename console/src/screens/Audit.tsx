import { useTranslation } from "react-i18next";
import { api, unwrap } from "../api/client";
import { usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Loading, Pager } from "../components/ui";

/** Who did what, when, on whose behalf: paged with the API's cursor. */
export default function Audit() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const list = usePaged((cursor) => unwrap(api.GET("/v1/orgs/{org_id}/audit", { params: { path: { org_id: orgId }, query: { cursor } } })), [orgId]);
  return (
    <>
      <h1>{t("audit.title")}</h1>
      <ErrorBox error={list.error} onRetry={list.reload} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.items.length === 0 && <p>{t("common.empty")}</p>}
      {list.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("audit.at")}</th>
              <th scope="col">{t("audit.actor")}</th>
              <th scope="col">{t("audit.onBehalfOf")}</th>
              <th scope="col">{t("audit.action")}</th>
              <th scope="col">{t("audit.subject")}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((a, i) => (
              <tr key={`${a.at}-${i}`}>
                <td>{f.dateTime(a.at)}</td>
                <td>{a.actor}</td>
                <td>{a.on_behalf_of ?? ""}</td>
                <td>
                  <code>{a.action}</code>
                </td>
                <td>{a.subject}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...list} />
    </>
  );
}
