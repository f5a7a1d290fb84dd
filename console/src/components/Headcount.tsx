import { useTranslation } from "react-i18next";
import { api, unwrap } from "../api/client";
import { useLoad, type Loaded } from "../hooks";

export interface Counted {
  counting: string;
  used: number;
  limit: number;
}

/** "N of M": the usage report's own row of `orgId`, in the terms of the org's counting. */
export function useHeadcount(orgId: string): Loaded<Counted> {
  return useLoad(async () => {
    const [org, usage] = await Promise.all([
      unwrap(api.GET("/v1/orgs/{org_id}", { params: { path: { org_id: orgId } } })),
      unwrap(api.GET("/v1/orgs/{org_id}/usage", { params: { path: { org_id: orgId } } })),
    ]);
    return { counting: org.policy.counting, used: usage.org.used, limit: usage.org.limit };
  }, [orgId]);
}

/** The subscription's size as a status line (on Users and on a user's page, as the help pages ask). */
export function Headcount({ counted }: { counted: Loaded<Counted> }) {
  const { t } = useTranslation();
  if (!counted.data) return null;
  const { counting, used, limit } = counted.data;
  return (
    <p className="headcount" role="status" aria-label={t("users.headcountLabel")}>
      {t(`users.headcount.${counting}`, { used, limit })}
    </p>
  );
}
