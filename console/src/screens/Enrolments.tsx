import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { useAction, usePaged } from "../hooks";
import { endOfDay, useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Field, Loading, Pager, Success } from "../components/ui";

const STATUSES = ["new", "active", "expired"] as const;

/**
 * Rows per page: a page ticked whole always fits one bulk change (each enrolment one write, a
 * learner whose enrolment ends one more, within one transaction's 99; docs/domain.md).
 */
const PAGE = 40;

type Item = { email: string; enrolment_id: string };
const keyOf = (e: Item) => `${e.email}/${e.enrolment_id}`;

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
          params: { path: { org_id: orgId }, query: { cursor, limit: PAGE, ...(run ? { enrolment_id: run } : {}), ...(status ? { status } : {}) } },
        }),
      ),
    [orgId, run, status],
  );
  // The ticked enrolments of the page shown (a new page, filter or change starts afresh).
  const [selected, setSelected] = useState<Map<string, Item>>(new Map());
  useEffect(() => setSelected(new Map()), [rows.data]);
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
        <SetExpiry selected={[...selected.values()]} onDone={rows.reload} />
        <ErrorBox error={rows.error} onRetry={rows.reload} />
        {rows.loading && !rows.data && <Loading />}
        {rows.data && rows.items.length === 0 && <p>{rows.hasPrev || rows.hasNext ? t("common.emptyPage") : t("users.noEnrolments")}</p>}
        {rows.items.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col" className="check">
                  <label>
                    <input
                      type="checkbox"
                      checked={rows.items.every((e) => selected.has(keyOf(e)))}
                      onChange={(ev) => setSelected(new Map(ev.target.checked ? rows.items.map((e) => [keyOf(e), { email: e.email, enrolment_id: e.enrolment_id }]) : []))}
                    />
                    <span>{t("expired.selectAll")}</span>
                  </label>
                </th>
                <th scope="col">{t("common.email")}</th>
                <th scope="col">{t("enrolments.experience")}</th>
                <th scope="col">{t("common.status")}</th>
                <th scope="col">{t("users.startsAt")}</th>
                <th scope="col">{t("users.endsAt")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.items.map((e) => (
                <tr key={keyOf(e)}>
                  <td className="check">
                    <input
                      type="checkbox"
                      aria-label={t("enrolments.selectOne", { email: e.email, id: e.enrolment_id })}
                      checked={selected.has(keyOf(e))}
                      onChange={() =>
                        setSelected((s) => {
                          const n = new Map(s);
                          if (!n.delete(keyOf(e))) n.set(keyOf(e), { email: e.email, enrolment_id: e.enrolment_id });
                          return n;
                        })
                      }
                    />
                  </td>
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

/**
 * "SET EXPIRY DATE" on the ticked enrolments (the help pages: Enrolments > All, tick, SET EXPIRY
 * DATE): one request, all or nothing. A date in the past ends them at once; the API refuses
 * what it cannot change in one go (a learner it would count again) with a message naming them.
 */
function SetExpiry({ selected, onDone }: { selected: Item[]; onDone: () => void }) {
  const { t } = useTranslation();
  const { orgId } = useOrg();
  const [editing, setEditing] = useState(false);
  const [day, setDay] = useState("");
  const [done, setDone] = useState<number | null>(null);
  const bulk = useAction(
    useCallback(
      (key: string, items: Item[], endsAt: string) =>
        unwrap(
          api.POST("/v1/orgs/{org_id}/enrolments/bulk", {
            params: { path: { org_id: orgId }, header: { "Idempotency-Key": key } },
            body: { items, ends_at: endsAt },
          }),
        ),
      [orgId],
    ),
  );
  async function save(ev: FormEvent) {
    ev.preventDefault();
    const r = await bulk.go(selected, endOfDay(day));
    if (r) {
      setDone(r.items.length);
      setEditing(false);
      onDone();
    }
  }
  return (
    <div className="bulk">
      <div className="actions">
        <span className="muted">{t("common.selected", { count: selected.length })}</span>
        {!editing && (
          <button type="button" className="primary" disabled={selected.length === 0} onClick={() => (setEditing(true), setDone(null), bulk.reset())}>
            {t("users.setExpiry")}
          </button>
        )}
      </div>
      {editing && (
        <form className="form-inline" onSubmit={save} aria-label={t("enrolments.setExpiryOf", { count: selected.length })}>
          <Field label={t("enrolments.expiryDate")}>{(id) => <input id={id} type="date" required value={day} onChange={(ev) => setDay(ev.target.value)} />}</Field>
          <button type="submit" className="primary" disabled={bulk.busy || selected.length === 0}>
            {t("common.save")}
          </button>
          <button type="button" onClick={() => (setEditing(false), bulk.reset())}>
            {t("common.cancel")}
          </button>
        </form>
      )}
      <ErrorBox error={bulk.error} />
      {done !== null && <Success>{t("enrolments.expirySet", { count: done })}</Success>}
    </div>
  );
}
