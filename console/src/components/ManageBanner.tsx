import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { useLoad } from "../hooks";
import { readNames, useOrg } from "../org";

/** Manage mode: names the managed company, with Exit back to the partner's own sections. */
export function ManageBanner() {
  const { t } = useTranslation();
  const { orgId } = useOrg();
  const known = readNames()[orgId];
  const org = useLoad(
    () => (known ? Promise.resolve({ name: known }) : unwrap(api.GET("/v1/orgs/{org_id}", { params: { path: { org_id: orgId } } }))),
    [orgId, known],
  );
  const name = org.data?.name ?? orgId;
  return (
    <div className="banner" role="region" aria-label={t("manage.banner", { name })}>
      <p>{t("manage.banner", { name })}</p>
      <Link className="button" to="/companies">
        {t("manage.exit")}
      </Link>
    </div>
  );
}
