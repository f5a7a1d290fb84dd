import { lazy, Suspense, useCallback, useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Navigate, NavLink, Route, Routes, useSearchParams } from "react-router";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { useAction, useJob, useLoad, usePaged } from "../hooks";
import { useFormat } from "../format";
import { useLicenceName } from "../licenceName";
import { useOrg } from "../org";
import { Bar, ErrorBox, Field, Loading, Pager, Success } from "../components/ui";

const ImportWizard = lazy(() => import("./ImportWizard"));

type Lot = Schemas["Lot"];
type OrderKind = Schemas["Order"]["kind"];
const ORDER_KINDS: OrderKind[] = ["purchase", "reduction"];

function LotCard({ lot }: { lot: Lot }) {
  const { t } = useTranslation();
  const f = useFormat();
  const pct = lot.quantity ? (lot.in_use / lot.quantity) * 100 : 0;
  const title = t("licences.lotTitle", { quantity: f.number(lot.quantity) });
  return (
    <li className={`card lot lot-${lot.status}`}>
      <h3>
        {title} <span className={`tag tag-${lot.status}`}>{t(`licences.lotStatus.${lot.status}`)}</span>
      </h3>
      <p className="big">{t("licences.ofAllocated", { used: f.number(lot.in_use), seats: f.number(lot.quantity) })}</p>
      <Bar percent={pct} label={`${title}: ${t("licences.percentUsed")}`} />
      <dl className="facts">
        <div>
          <dt>{t("licences.seats")}</dt>
          <dd>{f.number(lot.quantity)}</dd>
        </div>
        <div>
          <dt>{t("licences.used")}</dt>
          <dd>{f.number(lot.in_use)}</dd>
        </div>
        <div>
          <dt>{t("licences.remaining")}</dt>
          <dd>{f.number(lot.available)}</dd>
        </div>
        {lot.reduced > 0 && (
          <div>
            <dt>{t("licences.reduced")}</dt>
            <dd>{f.number(lot.reduced)}</dd>
          </div>
        )}
        <div>
          <dt>{t("licences.validUntil")}</dt>
          <dd>{lot.valid_until ? f.date(lot.valid_until) : t("licences.noEnd")}</dd>
        </div>
      </dl>
    </li>
  );
}

/** How long ahead the Licences screen warns of licences ending. */
const ENDING_DAYS = 30;

/**
 * A banner when live lots end within [`ENDING_DAYS`] days and learners hold licences from them:
 * how many, the first end, and "Request licences" with that many prefilled.
 */
function EndingBanner({ lots }: { lots: Lot[] }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { base } = useOrg();
  const now = Date.now();
  const ending = lots.filter((l) => {
    const end = l.valid_until ? Date.parse(l.valid_until) : NaN;
    return l.status === "active" && end > now && end - now <= ENDING_DAYS * 86_400_000 && l.in_use > 0;
  });
  if (ending.length === 0) return null;
  const learners = ending.reduce((n, l) => n + l.in_use, 0);
  const first = ending.map((l) => l.valid_until!).sort()[0];
  return (
    <div className="alert alert-warn" role="status" aria-label={t("licences.endingLabel")}>
      <p>{t("licences.ending", { count: learners, days: ENDING_DAYS, date: f.date(first) })}</p>
      <NavLink className="button primary" to={`${base}/licences/orders?request=${learners}`}>
        {t("orders.request")}
      </NavLink>
    </div>
  );
}

export default function Licences() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId, base } = useOrg();
  const lots = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}/lots", { params: { path: { org_id: orgId } } })), [orgId]);
  const usage = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}/usage", { params: { path: { org_id: orgId } } })), [orgId]);
  const changed = useCallback(() => {
    lots.reload();
    usage.reload();
  }, [lots.reload, usage.reload]);
  const row = usage.data?.org;
  const name = useLicenceName(usage.data?.licence_name);
  const tab = (to: string, label: string) => (
    <NavLink to={`${base}/licences/${to}`} className={({ isActive }) => `tab${isActive ? " tab-active" : ""}`} aria-current={undefined}>
      {label}
    </NavLink>
  );
  return (
    <>
      <h1>{name?.Other ?? t("licences.title")}</h1>
      {lots.data && <EndingBanner lots={lots.data.items} />}
      <section aria-labelledby="usage-h" className="summary">
        <h2 id="usage-h">{t("licences.summary")}</h2>
        <ErrorBox error={usage.error} onRetry={usage.reload} />
        {row && (
          <dl className="facts facts-wide">
            <div>
              <dt>{t("licences.limit")}</dt>
              <dd>{f.number(row.limit)}</dd>
            </div>
            <div>
              <dt>{t("licences.used")}</dt>
              <dd>{f.number(row.used)}</dd>
            </div>
            <div>
              <dt>{t("licences.remaining")}</dt>
              <dd data-testid="remaining">{f.number(row.remaining)}</dd>
            </div>
            <div>
              <dt>{t("licences.percentUsed")}</dt>
              <dd>
                <Bar percent={row.percent_used} label={t("licences.percentUsed")} />
              </dd>
            </div>
          </dl>
        )}
      </section>
      <section aria-labelledby="lots-h">
        <h2 id="lots-h">{name?.Other ?? t("licences.lots")}</h2>
        {lots.loading && !lots.data && <Loading />}
        <ErrorBox error={lots.error} onRetry={lots.reload} />
        {lots.data && lots.data.items.length === 0 && <p>{t("licences.noLots")}</p>}
        <ul className="cards">
          {lots.data?.items.map((l) => <LotCard key={l.lot_id} lot={l} />)}
        </ul>
      </section>
      <nav className="tabs" aria-label={t("licences.tabs")}>
        {tab("orders", t("licences.tabOrders"))}
        {tab("expired", name ? t("licences.tabExpiredOf", { name: name.other }) : t("licences.tabExpired"))}
        {tab("import", t("licences.tabImport"))}
      </nav>
      <div className="tab-panel">
        <Routes>
          <Route index element={<Navigate to="expired" replace />} />
          <Route path="orders" element={<OrdersTab onChanged={changed} />} />
          <Route path="expired" element={<ExpiredTab onChanged={changed} />} />
          <Route
            path="import"
            element={
              <Suspense fallback={<Loading />}>
                <ImportWizard onChanged={changed} />
              </Suspense>
            }
          />
        </Routes>
      </div>
    </>
  );
}

function OrdersTab({ onChanged }: { onChanged: () => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const [search, setSearch] = useSearchParams();
  const asked = search.get("request");
  const [open, setOpen] = useState(asked !== null);
  const [quantity, setQuantity] = useState(asked && Number(asked) > 0 ? asked : "");
  const [note, setNote] = useState("");
  const [kind, setKind] = useState<OrderKind>("purchase");
  // Asked again while this tab is open (the Licences banner's link): the form opens with it.
  useEffect(() => {
    if (asked === null) return;
    setOpen(true);
    if (Number(asked) > 0) setQuantity(asked);
  }, [asked]);
  const orders = usePaged((cursor) => unwrap(api.GET("/v1/orgs/{org_id}/orders", { params: { path: { org_id: orgId }, query: { cursor } } })), [orgId]);
  const request = useAction(
    useCallback(
      (key: string, q: number, n: string, k: OrderKind) =>
        unwrap(
          api.POST("/v1/orgs/{org_id}/orders", {
            params: { path: { org_id: orgId }, header: { "Idempotency-Key": key } },
            body: { quantity: q, kind: k, ...(n.trim() ? { note: n.trim() } : {}) },
          }),
        ),
      [orgId],
    ),
  );
  const cancel = useAction(
    useCallback((key: string, id: string) => unwrap(api.POST("/v1/orders/{order_id}/cancel", { params: { path: { order_id: id }, header: { "Idempotency-Key": key } } })), []),
  );
  async function submit(e: FormEvent) {
    e.preventDefault();
    const r = await request.go(Number(quantity), note, kind);
    if (r) {
      setOpen(false);
      setQuantity("");
      setNote("");
      setKind("purchase");
      if (asked !== null) setSearch({}, { replace: true });
      orders.reload();
      onChanged();
    }
  }
  return (
    <section aria-labelledby="orders-h">
      <div className="section-head">
        <h2 id="orders-h">{t("licences.tabOrders")}</h2>
        <button type="button" className="primary" aria-expanded={open} onClick={() => { setOpen(!open); request.reset(); }}>
          {t("orders.request")}
        </button>
      </div>
      {request.result && !open && (
        <Success>
          {t(request.result.kind === "reduction" ? "orders.requestedReduction" : "orders.requested", { quantity: f.number(request.result.quantity) })}
        </Success>
      )}
      {open && (
        <form className="card form-inline" onSubmit={submit} aria-label={t("orders.request")}>
          <fieldset>
            <legend>{t("orders.kind")}</legend>
            {ORDER_KINDS.map((k) => (
              <label key={k} className="radio">
                <input type="radio" name="order-kind" value={k} checked={kind === k} onChange={() => setKind(k)} /> {t(`orders.kinds.${k}`)}
              </label>
            ))}
          </fieldset>
          {kind === "reduction" && <p className="muted">{t("orders.reductionHint")}</p>}
          <Field label={t("orders.quantity")}>
            {(id) => <input id={id} type="number" min={1} max={100000} required value={quantity} onChange={(e) => setQuantity(e.target.value)} />}
          </Field>
          <Field label={t("orders.note")}>{(id) => <input id={id} maxLength={1000} value={note} onChange={(e) => setNote(e.target.value)} />}</Field>
          <button type="submit" className="primary" disabled={request.busy}>
            {t("common.save")}
          </button>
          <button type="button" onClick={() => setOpen(false)}>
            {t("common.cancel")}
          </button>
          <ErrorBox error={request.error} onRetry={() => void request.retry(Number(quantity), note, kind).then((r) => r && (setOpen(false), orders.reload()))} />
        </form>
      )}
      <ErrorBox error={cancel.error} onRetry={undefined} />
      <ErrorBox error={orders.error} onRetry={orders.reload} />
      {orders.loading && !orders.data && <Loading />}
      {orders.data && orders.items.length === 0 && <p>{t("orders.none")}</p>}
      {orders.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("orders.requestedAt")}</th>
              <th scope="col">{t("orders.kind")}</th>
              <th scope="col">{t("orders.quantity")}</th>
              <th scope="col">{t("orders.noteHeading")}</th>
              <th scope="col">{t("common.status")}</th>
              <th scope="col">{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {orders.items.map((o) => (
              <tr key={o.order_id}>
                <td>{f.dateTime(o.requested_at)}</td>
                <td>{t(`orders.kinds.${o.kind}`)}</td>
                <td className="num">{f.number(o.quantity)}</td>
                <td>{o.note ?? ""}</td>
                <td>
                  <span className={`tag tag-${o.status}`}>{t(`orders.status.${o.status}`)}</span>
                  {o.lot?.valid_until && <> {t("orders.assignedLot", { date: f.date(o.lot.valid_until) })}</>}
                  {o.reduced_lots && o.reduced_lots.length > 0 && <> {t("orders.seatsRemoved", { count: o.quantity })}</>}
                  {o.reason && <> — {o.reason}</>}
                </td>
                <td>
                  {o.status === "requested" && (
                    <button type="button" disabled={cancel.busy} onClick={() => void cancel.go(o.order_id).then((r) => r && orders.reload())}>
                      {t("orders.cancelOrder")}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...orders} />
    </section>
  );
}

function ExpiredTab({ onChanged }: { onChanged: () => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId, base } = useOrg();
  const list = usePaged(
    (cursor) => unwrap(api.GET("/v1/orgs/{org_id}/licences", { params: { path: { org_id: orgId }, query: { status: "expired", cursor } } })),
    [orgId],
  );
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const emails = list.items.map((l) => l.email);
  const allSelected = emails.length > 0 && emails.every((e) => selected.has(e));
  const allExpired = allSelected && (list.hasNext || list.hasPrev);
  const allocate = useAction(
    useCallback(
      (key: string, body: { emails: string[] } | { all_expired: true }) =>
        unwrap(api.POST("/v1/orgs/{org_id}/allocations", { params: { path: { org_id: orgId }, header: { "Idempotency-Key": key } }, body })),
      [orgId],
    ),
  );
  const body = () => (allExpired ? ({ all_expired: true } as const) : { emails: [...selected] });
  // "Select all" on a list of several pages licenses every expired learner: how many, from the API.
  const total = useLoad(
    async () =>
      allExpired ? unwrap(api.GET("/v1/orgs/{org_id}/licences/count", { params: { path: { org_id: orgId }, query: { status: "expired" } } })) : null,
    [orgId, allExpired],
  );
  const counted = allExpired ? total.data : null;
  // A large allocation the API continues in the background (202): its job, read again until done.
  const ended = useCallback(() => {
    list.reload();
    onChanged();
  }, [list.reload, onChanged]);
  const polled = useJob(
    useCallback(
      (j: Schemas["Allocation"]) => unwrap(api.GET("/v1/orgs/{org_id}/allocations/{allocation_id}", { params: { path: { org_id: orgId, allocation_id: j.allocation_id } } })),
      [orgId],
    ),
    ended,
  );
  const job = polled.job;
  async function run(retry: boolean) {
    const r = await (retry ? allocate.retry(body()) : allocate.go(body()));
    if (r) {
      setSelected(new Set());
      if ("allocation_id" in r && r.status === "committing" && !("results" in r)) polled.start(r as Schemas["Allocation"]);
      list.reload();
      onChanged();
    }
  }
  const short = allocate.error instanceof ApiError && allocate.error.code === "insufficient_licences" ? allocate.error.details : null;
  const toggle = (e: string) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(e)) n.delete(e);
      else n.add(e);
      return n;
    });
  const done = allocate.result && "results" in allocate.result ? allocate.result : null;
  const alreadyActive = done?.results.filter((r) => r.outcome === "already_active").length ?? 0;
  return (
    <section aria-labelledby="expired-h">
      <div className="section-head">
        <h2 id="expired-h">{t("licences.tabExpired")}</h2>
        <NavLink className="button" to={`${base}/licences/import`}>
          {t("expired.importRenewal")}
        </NavLink>
      </div>
      {/* The help pages: "Choose 'Select users Manually' or 'Select Users by CSV'". */}
      <nav className="ways" aria-label={t("expired.ways")}>
        <NavLink end to={`${base}/licences/expired`} className={({ isActive }) => `way${isActive ? " way-active" : ""}`}>
          {t("expired.manually")}
        </NavLink>
        <NavLink to={`${base}/licences/import`} className="way">
          {t("expired.byCsv")}
        </NavLink>
      </nav>
      <div className="section-head">
        <h3>{t("expired.manualUpgrade")}</h3>
        <div className="actions">
          <span className="muted">{t("common.selected", { count: counted?.complete ? counted.count : selected.size })}</span>
          <button type="button" className="primary" disabled={selected.size === 0 || allocate.busy} onClick={() => void run(false)}>
            {t("expired.allocate")}
          </button>
        </div>
      </div>
      {done && (
        <Success>
          {t("expired.allocated", { count: done.allocated })} {alreadyActive > 0 && t("expired.alreadyActive", { count: alreadyActive })}
        </Success>
      )}
      <ErrorBox error={polled.error} />
      {job?.status === "committing" && !polled.error && (
        <div>
          <p role="status">{t("expired.committing")}</p>
          <progress max={job.rows_total || 1} value={job.rows_done} aria-label={t("expired.progress")} />
          <span>
            {" "}
            {f.number(job.rows_done)} / {f.number(job.rows_total)}
          </span>
        </div>
      )}
      {job?.status === "committed" && <Success>{t("expired.allocated", { count: job.allocated })}</Success>}
      {job?.status === "failed" && (
        <div role="alert" className="alert alert-error">
          <p>{job.error ?? ""}</p>
        </div>
      )}
      {short ? (
        <div role="alert" className="alert alert-error">
          <p>{t("expired.short", { needed: f.number(Number(short.needed)), available: f.number(Number(short.available)) })}</p>
          <NavLink className="button primary" to={`${base}/licences/orders?request=${Math.max(1, Number(short.needed) - Number(short.available))}`}>
            {t("expired.orderMore", { count: Math.max(1, Number(short.needed) - Number(short.available)) })}
          </NavLink>
        </div>
      ) : (
        <ErrorBox error={allocate.error} onRetry={() => void run(true)} />
      )}
      {allExpired && (
        <p className="muted" role="status" aria-label={t("expired.selectedLabel")}>
          {counted ? t(counted.complete ? "expired.allExpiredCount" : "expired.allExpiredMore", { count: f.number(counted.count) }) : t("expired.allExpired")}
        </p>
      )}
      <ErrorBox error={allExpired ? total.error : null} onRetry={total.reload} />
      <ErrorBox error={list.error} onRetry={list.reload} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.items.length === 0 && <p>{t("expired.none")}</p>}
      {list.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col" className="check">
                <label>
                  <input type="checkbox" checked={allSelected} onChange={() => setSelected(allSelected ? new Set() : new Set(emails))} />
                  <span>{t("expired.selectAll")}</span>
                </label>
              </th>
              <th scope="col">{t("common.email")}</th>
              <th scope="col">{t("common.name")}</th>
              <th scope="col">{t("expired.expiredOn")}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((l) => (
              <tr key={l.licence_id}>
                <td className="check">
                  <input type="checkbox" aria-label={t("expired.selectOne", { email: l.email })} checked={selected.has(l.email)} onChange={() => toggle(l.email)} />
                </td>
                <td>{l.email}</td>
                <td>{l.name ?? ""}</td>
                <td>{f.date(l.valid_until ?? l.lot_valid_until)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...list} next={() => (setSelected(new Set()), list.next())} prev={() => (setSelected(new Set()), list.prev())} />
    </section>
  );
}

