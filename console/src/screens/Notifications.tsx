import { useCallback } from "react";
import { useTranslation } from "react-i18next";
import { api, unwrap, type Schemas } from "../api/client";
import { useAction, usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Loading, Pager, Success } from "../components/ui";
import Contacts from "../components/Contacts";

function About({ n }: { n: Schemas["Notice"] }) {
  const { t } = useTranslation();
  const f = useFormat();
  const p = n.payload as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof p.quantity === "number") parts.push(t(p.kind === "reduction" ? "notifications.seats" : "notifications.count", { count: p.quantity }));
  if (typeof p.count === "number") parts.push(t("notifications.users", { count: p.count }));
  if (typeof p.expiry_date === "string") parts.push(f.date(p.expiry_date));
  if (Array.isArray(p.users) && p.users.length) parts.push(p.users.slice(0, 5).join(", ") + (p.users.length > 5 ? " …" : ""));
  return <>{parts.join(" · ")}</>;
}

/** The order notice of a reduction (its payload's `kind`), which reads as one. */
function reduction(n: Schemas["Notice"]): "order_requested" | "order_assigned" | null {
  const kind = (n.payload as Record<string, unknown>).kind;
  return kind === "reduction" && (n.kind === "order_requested" || n.kind === "order_assigned") ? n.kind : null;
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
        const why = state === "suppressed" && (d?.reason === "hard_bounce" || d?.reason === "complaint") ? t(`notifications.suppressedWhy.${d.reason}`) : d?.reason;
        return (
          <li key={email} data-delivery={state}>
            {email} — {t(`notifications.delivery.${state}`)}
            {why && (state === "refused" || state === "failed" || state === "suppressed") ? `: ${why}` : ""}
          </li>
        );
      })}
      {n.recipients_omitted ? <li data-omitted={n.recipients_omitted}>{t("notifications.omitted", { count: n.recipients_omitted })}</li> : null}
    </ul>
  );
}

/** The addresses not e-mailed for this org (after a hard bounce or a complaint), each cleared with a click. */
function Suppressions({ onCleared }: { onCleared: () => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const list = usePaged((cursor) => unwrap(api.GET("/v1/orgs/{org_id}/suppressions", { params: { path: { org_id: orgId }, query: { cursor } } })), [orgId]);
  const clear = useAction(
    useCallback(
      (key: string, email: string) =>
        unwrap(api.DELETE("/v1/orgs/{org_id}/suppressions/{email}", { params: { path: { org_id: orgId, email }, header: { "Idempotency-Key": key } } })),
      [orgId],
    ),
  );
  async function doClear(email: string) {
    if (await clear.go(email)) {
      list.reload();
      onCleared();
    }
  }
  return (
    <section aria-labelledby="suppressions-title">
      <h2 id="suppressions-title">{t("suppressions.title")}</h2>
      <p>{t("suppressions.intro")}</p>
      <ErrorBox error={list.error ?? clear.error} onRetry={list.reload} />
      {clear.result && <Success>{t("suppressions.cleared", { email: clear.result.email })}</Success>}
      {list.loading && !list.data && <Loading />}
      {list.data && list.items.length === 0 && <p>{t("suppressions.none")}</p>}
      {list.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("common.email")}</th>
              <th scope="col">{t("suppressions.reason")}</th>
              <th scope="col">{t("suppressions.scope")}</th>
              <th scope="col">{t("suppressions.since")}</th>
              <th scope="col">{t("suppressions.detail")}</th>
              <th scope="col">{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((s) => (
              <tr key={`${s.scope}:${s.email}`} data-suppressed={s.email}>
                <td>{s.email}</td>
                <td>{t(`suppressions.reasons.${s.reason}`)}</td>
                <td>{t(`suppressions.scopes.${s.scope}`)}</td>
                <td>{f.dateTime(s.since)}</td>
                <td>{s.detail}</td>
                <td>
                  <button type="button" disabled={clear.busy} aria-label={t("suppressions.clear", { email: s.email })} onClick={() => void doClear(s.email)}>
                    {t("suppressions.clearShort")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...list} />
    </section>
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
                <td>{reduction(n) ? t(`notifications.reduction.${reduction(n)}`) : t(`notifications.kinds.${n.kind}`)}</td>
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
      <Contacts />
      <Suppressions onCleared={list.reload} />
    </>
  );
}
