import { useTranslation } from "react-i18next";
import { api, unwrap, type Schemas } from "../api/client";
import { usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Loading, Pager } from "../components/ui";

function About({ n }: { n: Schemas["Notice"] }) {
  const { t } = useTranslation();
  const f = useFormat();
  const p = n.payload as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof p.quantity === "number") parts.push(t("notifications.count", { count: p.quantity }));
  if (typeof p.count === "number") parts.push(t("notifications.users", { count: p.count }));
  if (typeof p.expiry_date === "string") parts.push(f.date(p.expiry_date));
  if (Array.isArray(p.users) && p.users.length) parts.push(p.users.slice(0, 5).join(", ") + (p.users.length > 5 ? " …" : ""));
  return <>{parts.join(" · ")}</>;
}

/** Each recipient with how its e-mail stands (the notice mailer's delivery), or why none went. */
function Recipients({ n }: { n: Schemas["Notice"] }) {
  const { t } = useTranslation();
  if (n.no_recipient || n.recipients.length === 0) return <>{t("notifications.noRecipient")}</>;
  const byEmail = new Map((n.deliveries ?? []).map((d) => [d.email, d]));
  return (
    <ul className="plain">
      {n.recipients.map((email) => {
        const d = byEmail.get(email);
        const state = d?.state ?? "pending";
        return (
          <li key={email} data-delivery={state}>
            {email} — {t(`notifications.delivery.${state}`)}
            {d?.reason && (state === "refused" || state === "failed") ? `: ${d.reason}` : ""}
          </li>
        );
      })}
    </ul>
  );
}

/** The notices sent to the org's managers, paged with the API's cursor. */
export default function Notifications() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const list = usePaged((cursor) => unwrap(api.GET("/v1/orgs/{org_id}/notifications", { params: { path: { org_id: orgId }, query: { cursor } } })), [orgId]);
  return (
    <>
      <h1>{t("notifications.title")}</h1>
      <ErrorBox error={list.error} onRetry={list.reload} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.items.length === 0 && <p>{t("common.empty")}</p>}
      {list.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("notifications.at")}</th>
              <th scope="col">{t("notifications.kind")}</th>
              <th scope="col">{t("notifications.about")}</th>
              <th scope="col">{t("notifications.recipients")}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((n) => (
              <tr key={n.notice_id}>
                <td>{f.dateTime(n.created_at)}</td>
                <td>{t(`notifications.kinds.${n.kind}`)}</td>
                <td>
                  <About n={n} />
                </td>
                <td>
                  <Recipients n={n} />
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
