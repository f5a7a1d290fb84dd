import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../api/client";
import { useAction, useLoad } from "../hooks";
import { useOrg } from "../org";
import { ErrorBox, Loading, Success } from "./ui";

const TOPICS = ["orders", "usage", "forecast", "expiry"] as const;
type Topic = (typeof TOPICS)[number];
interface Row {
  email: string;
  name: string;
  receives: Topic[];
}

/** The org's own contacts ("who is told"): who, besides its managers, receives which notices. */
export default function Contacts() {
  const { t } = useTranslation();
  const { orgId } = useOrg();
  const loaded = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}/contacts", { params: { path: { org_id: orgId } } })), [orgId]);
  const [rows, setRows] = useState<Row[]>([]);
  useEffect(() => {
    if (loaded.data) setRows(loaded.data.contacts.map((c) => ({ email: c.email, name: c.name ?? "", receives: c.receives as Topic[] })));
  }, [loaded.data]);
  const save = useAction(
    useCallback(
      (key: string, list: Row[]) =>
        unwrap(
          api.PUT("/v1/orgs/{org_id}/contacts", {
            params: { path: { org_id: orgId }, header: { "Idempotency-Key": key } },
            body: { contacts: list.map((r) => ({ email: r.email.trim(), ...(r.name.trim() ? { name: r.name.trim() } : {}), receives: r.receives })) },
          }),
        ),
      [orgId],
    ),
  );
  const change = (i: number, next: Partial<Row>) => setRows((rs) => rs.map((r, j) => (j === i ? { ...r, ...next } : r)));
  const toggle = (i: number, topic: Topic, on: boolean) =>
    change(i, { receives: on ? [...rows[i].receives, topic] : rows[i].receives.filter((x) => x !== topic) });
  async function submit(e: FormEvent) {
    e.preventDefault();
    const r = await save.go(rows);
    if (r) setRows(r.contacts.map((c) => ({ email: c.email, name: c.name ?? "", receives: c.receives as Topic[] })));
  }
  return (
    <section aria-labelledby="contacts-title">
      <h2 id="contacts-title">{t("contacts.title")}</h2>
      <p>{t("contacts.intro")}</p>
      <ErrorBox error={loaded.error} onRetry={loaded.reload} />
      {loaded.loading && !loaded.data && <Loading />}
      {loaded.data && (
        <form onSubmit={submit} aria-label={t("contacts.title")}>
          {rows.length === 0 && <p>{t("contacts.none")}</p>}
          {rows.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("common.email")}</th>
                  <th scope="col">{t("common.name")}</th>
                  {TOPICS.map((topic) => (
                    <th scope="col" key={topic}>
                      {t(`contacts.topics.${topic}`)}
                    </th>
                  ))}
                  <th scope="col">{t("common.actions")}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r, i) => (
                  <tr key={i}>
                    <td>
                      <input type="email" required aria-label={t("contacts.emailOf", { n: i + 1 })} value={r.email} onChange={(e) => change(i, { email: e.target.value })} />
                    </td>
                    <td>
                      <input maxLength={200} aria-label={t("contacts.nameOf", { n: i + 1 })} value={r.name} onChange={(e) => change(i, { name: e.target.value })} />
                    </td>
                    {TOPICS.map((topic) => (
                      <td key={topic}>
                        <input
                          type="checkbox"
                          aria-label={t("contacts.topicOf", { topic: t(`contacts.topics.${topic}`), n: i + 1 })}
                          checked={r.receives.includes(topic)}
                          onChange={(e) => toggle(i, topic, e.target.checked)}
                        />
                      </td>
                    ))}
                    <td>
                      <button type="button" onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))}>
                        {t("contacts.remove", { n: i + 1 })}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div className="form-inline">
            <button type="button" onClick={() => setRows((rs) => [...rs, { email: "", name: "", receives: [] }])}>
              {t("contacts.add")}
            </button>
            <button type="submit" className="primary" disabled={save.busy}>
              {t("common.save")}
            </button>
          </div>
          <ErrorBox error={save.error} onRetry={() => void save.retry(rows)} />
          {save.result && <Success>{t("contacts.saved")}</Success>}
        </form>
      )}
    </section>
  );
}
