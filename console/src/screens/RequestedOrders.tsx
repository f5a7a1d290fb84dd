import { useCallback, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { useAction, useLoad, usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg, rememberNames } from "../org";
import { ErrorBox, Field, Loading, Pager, Success, Menu } from "../components/ui";

type Order = Schemas["Order"];
const STATUSES = ["requested", "assigned", "rejected", "cancelled"] as const;
type Status = (typeof STATUSES)[number];

/** Requested orders (docs/domain.md#orders-and-lots): every customer's orders, filters in the URL; Assign, Reject. */
export default function RequestedOrders() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const [search, setSearch] = useSearchParams();
  const status = (search.get("status") ?? "requested") as Status | "";
  const company = search.get("company") ?? "";
  const from = search.get("from") ?? "";
  const to = search.get("to") ?? "";
  const children = useLoad(async () => {
    const r = await unwrap(api.GET("/v1/orgs/{org_id}/children", { params: { path: { org_id: orgId }, query: { limit: 500 } } }));
    rememberNames(r.items);
    return r.items;
  }, [orgId]);
  const names = Object.fromEntries((children.data ?? []).map((c) => [c.org_id, c.name]));
  const orders = usePaged(
    (cursor) =>
      unwrap(
        api.GET("/v1/orgs/{org_id}/orders", {
          params: {
            path: { org_id: orgId },
            query: {
              cursor,
              ...(status ? { status } : {}),
              ...(company ? { company_id: company } : {}),
              ...(from ? { from: `${from}T00:00:00Z` } : {}),
              ...(to ? { to: `${to}T23:59:59Z` } : {}),
            },
          },
        }),
      ),
    [orgId, status, company, from, to],
  );
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(search);
    if (v) n.set(k, v);
    else n.delete(k);
    if (k === "status" && !v) n.set("status", "");
    setSearch(n, { replace: true });
  };
  // The help pages: "Use the 'Add Filter' button to locate the specific 'Order'": the filters open
  // with it, or at once when the URL sets one.
  const [filtering, setFiltering] = useState(() => ["status", "company", "from", "to"].some((k) => search.has(k)));
  const [rejecting, setRejecting] = useState<Order | null>(null);
  const [reason, setReason] = useState("");
  const assign = useAction(
    useCallback((key: string, id: string) => unwrap(api.POST("/v1/orders/{order_id}/assign", { params: { path: { order_id: id }, header: { "Idempotency-Key": key } } })), []),
  );
  const reject = useAction(
    useCallback(
      (key: string, id: string, why: string) =>
        unwrap(api.POST("/v1/orders/{order_id}/reject", { params: { path: { order_id: id }, header: { "Idempotency-Key": key } }, body: { reason: why } })),
      [],
    ),
  );
  const [done, setDone] = useState<string | null>(null);
  async function doAssign(o: Order) {
    setDone(null);
    reject.reset();
    const r = await assign.go(o.order_id);
    if (r) {
      setDone(
        r.kind === "reduction"
          ? t("requested.assignedReduction", { quantity: f.number(r.quantity) })
          : t("requested.assigned", { quantity: f.number(r.lot?.quantity ?? r.quantity), date: f.date(r.lot?.valid_until) }),
      );
      orders.reload();
    }
  }
  async function doReject(e: FormEvent) {
    e.preventDefault();
    if (!rejecting) return;
    setDone(null);
    const r = await reject.go(rejecting.order_id, reason.trim());
    if (r) {
      setDone(t("requested.rejected"));
      setRejecting(null);
      setReason("");
      orders.reload();
    }
  }
  return (
    <>
      <div className="section-head">
        <h1>{t("requested.title")}</h1>
        <button type="button" aria-expanded={filtering} aria-controls="order-filters" onClick={() => setFiltering(!filtering)}>
          {t("requested.addFilter")}
        </button>
      </div>
      {filtering && (
        <form id="order-filters" className="card filters" aria-label={t("requested.filters")} onSubmit={(e) => e.preventDefault()}>
          <Field label={t("requested.status")}>
            {(id) => (
              <select id={id} value={status} onChange={(e) => set("status", e.target.value)}>
                <option value="">{t("common.all")}</option>
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {t(`orders.status.${s}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t("requested.company")}>
            {(id) => (
              <select id={id} value={company} onChange={(e) => set("company", e.target.value)}>
                <option value="">{t("requested.allCompanies")}</option>
                {(children.data ?? []).map((c) => (
                  <option key={c.org_id} value={c.org_id}>
                    {c.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t("requested.from")}>{(id) => <input id={id} type="date" value={from} onChange={(e) => set("from", e.target.value)} />}</Field>
          <Field label={t("requested.to")}>{(id) => <input id={id} type="date" value={to} onChange={(e) => set("to", e.target.value)} />}</Field>
        </form>
      )}
      {done && <Success>{done}</Success>}
      <ErrorBox error={assign.error} />
      <ErrorBox error={children.error} onRetry={children.reload} />
      <ErrorBox error={orders.error} onRetry={orders.reload} />
      {orders.loading && !orders.data && <Loading />}
      {orders.data && orders.items.length === 0 && <p>{t("orders.none")}</p>}
      {orders.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("orders.requestedAt")}</th>
              <th scope="col">{t("orders.company")}</th>
              <th scope="col">{t("orders.kind")}</th>
              <th scope="col">{t("orders.quantity")}</th>
              <th scope="col">{t("orders.noteHeading")}</th>
              <th scope="col">{t("common.status")}</th>
              <th scope="col">{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {orders.items.map((o) => {
              const what = t(o.kind === "reduction" ? "requested.reductionFor" : "requested.orderFor", { company: names[o.org_id] ?? o.org_id, quantity: o.quantity });
              return (
                <tr key={o.order_id}>
                  <td>{f.dateTime(o.requested_at)}</td>
                  <td>{names[o.org_id] ?? o.org_id}</td>
                  <td>{t(`orders.kinds.${o.kind}`)}</td>
                  <td className="num">{f.number(o.quantity)}</td>
                  <td>{o.note ?? ""}</td>
                  <td>
                    <span className={`tag tag-${o.status}`}>{t(`orders.status.${o.status}`)}</span>
                    {o.reason && <> — {o.reason}</>}
                  </td>
                  <td className="actions">
                    {o.status === "requested" && (
                      <Menu label={`${t("requested.more")}: ${what}`} shown={<span aria-hidden="true">⋯</span>}>
                        <button type="button" className="primary" disabled={assign.busy} aria-label={`${t("requested.assign")}: ${what}`} onClick={() => void doAssign(o)}>
                          {t("requested.assign")}
                        </button>
                        <button type="button" aria-label={`${t("requested.reject")}: ${what}`} onClick={() => (setRejecting(o), reject.reset())}>
                          {t("requested.reject")}
                        </button>
                      </Menu>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager {...orders} />
      {rejecting && (
        <form className="card" onSubmit={doReject} aria-label={t("requested.confirmReject")}>
          <h2>{t("requested.confirmReject")}</h2>
          <p>
            {t(rejecting.kind === "reduction" ? "requested.reductionFor" : "requested.orderFor", {
              company: names[rejecting.org_id] ?? rejecting.org_id,
              quantity: rejecting.quantity,
            })}
          </p>
          <Field label={t("requested.rejectReason")}>
            {(id) => <textarea id={id} required maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} autoFocus />}
          </Field>
          <ErrorBox error={reject.error} onRetry={() => void reject.retry(rejecting.order_id, reason.trim())} />
          <button type="submit" className="primary" disabled={reject.busy || !reason.trim()}>
            {t("requested.confirmReject")}
          </button>
          <button type="button" onClick={() => setRejecting(null)}>
            {t("common.cancel")}
          </button>
        </form>
      )}
    </>
  );
}
