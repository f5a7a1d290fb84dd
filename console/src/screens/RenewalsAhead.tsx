import { useCallback, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { useAction, useLoad, usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Field, Loading, Pager, Success } from "../components/ui";

type Ending = Schemas["Expiring"];
const WINDOWS = [30, 60, 90] as const;

/** `months` calendar months after `from`, the day kept or the month's last (as a lot's term ends). */
export function monthsAfter(from: Date, months: number): Date {
  const day = from.getUTCDate();
  const r = new Date(from);
  r.setUTCDate(1);
  r.setUTCMonth(r.getUTCMonth() + months);
  const last = new Date(Date.UTC(r.getUTCFullYear(), r.getUTCMonth() + 1, 0)).getUTCDate();
  r.setUTCDate(Math.min(day, last));
  return r;
}

/** The renewal of one customer: the quantity (its seats in use) and the new lot's end, before anything is sent. */
function RenewDialog({ row, onDone, onClose }: { row: Ending; onDone: (message: string) => void; onClose: () => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const [quantity, setQuantity] = useState(String(Math.max(1, row.in_use)));
  // A lot's term starts at its assignment: assigned now, it ends the company's term from now.
  const company = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}", { params: { path: { org_id: row.org_id } } })), [row.org_id]);
  const term = company.data?.policy.term_months;
  const renew = useAction(
    useCallback(async (key: string, n: number) => {
      const order = await unwrap(
        api.POST("/v1/orgs/{org_id}/orders", { params: { path: { org_id: row.org_id }, header: { "Idempotency-Key": key } }, body: { quantity: n } }),
      );
      return unwrap(api.POST("/v1/orders/{order_id}/assign", { params: { path: { order_id: order.order_id }, header: { "Idempotency-Key": `${key}.assign` } } }));
    }, [row.org_id]),
  );
  const n = Number(quantity);
  const valid = Number.isInteger(n) && n >= 1;
  async function submit(e: FormEvent) {
    e.preventDefault();
    const r = await renew.go(n);
    if (r) onDone(t("ahead.renewed", { name: row.name, quantity: f.number(r.lot?.quantity ?? n), date: f.date(r.lot?.valid_until) }));
  }
  return (
    <form className="card" onSubmit={submit} aria-label={t("ahead.dialog", { name: row.name })}>
      <h2>{t("ahead.dialog", { name: row.name })}</h2>
      <p>{t("ahead.ends", { date: f.date(row.valid_until), inUse: f.number(row.in_use), seats: f.number(row.quantity) })}</p>
      <Field label={t("orders.quantity")}>
        {(id) => <input id={id} type="number" min={1} required value={quantity} onChange={(e) => setQuantity(e.target.value)} autoFocus />}
      </Field>
      <ErrorBox error={company.error} onRetry={company.reload} />
      {term !== undefined && (
        <p role="status" data-testid="new-end">
          {t("ahead.newEnd", { date: f.date(monthsAfter(new Date(), term).toISOString()), months: term, old: f.date(row.valid_until) })}
        </p>
      )}
      <ErrorBox error={renew.error} onRetry={() => void renew.retry(n)} />
      <p>
        <button type="submit" className="primary" disabled={renew.busy || !valid || term === undefined}>
          {t("ahead.confirm")}
        </button>{" "}
        <button type="button" onClick={onClose}>
          {t("common.cancel")}
        </button>
      </p>
    </form>
  );
}

/**
 * The renewals ahead (the help pages: "ensuring no customer is left without the required
 * licences"): the customers whose lots end in the next 30, 60 or 90 days, soonest first, each with
 * one action — request and assign the renewal, its new end shown before it is confirmed.
 */
export default function RenewalsAhead() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const [search, setSearch] = useSearchParams();
  const within = WINDOWS.find((w) => String(w) === search.get("within")) ?? 30;
  const rows = usePaged(
    (cursor) => unwrap(api.GET("/v1/orgs/{org_id}/expiring", { params: { path: { org_id: orgId }, query: { within_days: within, cursor } } })),
    [orgId, within],
  );
  const [renewing, setRenewing] = useState<Ending | null>(null);
  const [done, setDone] = useState<string | null>(null);
  return (
    <>
      <h1>{t("ahead.title")}</h1>
      <p>{t("ahead.intro")}</p>
      <Field label={t("ahead.within")}>
        {(id) => (
          <select id={id} value={within} onChange={(e) => setSearch({ within: e.target.value }, { replace: true })}>
            {WINDOWS.map((w) => (
              <option key={w} value={w}>
                {t("ahead.days", { count: w })}
              </option>
            ))}
          </select>
        )}
      </Field>
      {done && <Success>{done}</Success>}
      <ErrorBox error={rows.error} onRetry={rows.reload} />
      {rows.loading && !rows.data && <Loading />}
      {rows.data && rows.items.length === 0 && <p>{t("ahead.none", { count: within })}</p>}
      {rows.items.length > 0 && (
        <table>
            <thead>
              <tr>
                <th scope="col">{t("orders.company")}</th>
                <th scope="col">{t("ahead.endsOn")}</th>
                <th scope="col">{t("licences.seats")}</th>
                <th scope="col">{t("ahead.inUse")}</th>
                <th scope="col">{t("ahead.requested")}</th>
                <th scope="col">{t("ahead.renewedUntil")}</th>
                <th scope="col">{t("common.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.items.map((r) => (
                <tr key={`${r.org_id}/${r.lot_id}`}>
                  <td>{r.name}</td>
                  <td>{f.date(r.valid_until)}</td>
                  <td className="num">{f.number(r.quantity)}</td>
                  <td className="num">{f.number(r.in_use)}</td>
                  <td>{r.order_requested ? t("common.yes") : t("common.no")}</td>
                  <td>{r.renewed_until ? f.date(r.renewed_until) : "—"}</td>
                  <td className="actions">
                    <button type="button" className="primary" aria-label={t("ahead.renewFor", { name: r.name })} onClick={() => (setDone(null), setRenewing(r))}>
                      {t("ahead.renew")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
        </table>
      )}
      <Pager {...rows} />
      {renewing && (
        <RenewDialog
          key={`${renewing.org_id}/${renewing.lot_id}`}
          row={renewing}
          onClose={() => setRenewing(null)}
          onDone={(message) => {
            setRenewing(null);
            setDone(message);
            rows.reload();
          }}
        />
      )}
    </>
  );
}
