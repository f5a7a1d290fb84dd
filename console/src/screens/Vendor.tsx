import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { useLoad } from "../hooks";
import { rememberNames, useOrg } from "../org";
import { ErrorBox, Loading } from "../components/ui";
import { CreateOrg } from "../components/CreateOrg";

type Org = Schemas["Org"];

async function childrenOf(id: string): Promise<Org[]> {
  const all: Org[] = [];
  let cursor: string | undefined;
  do {
    const r = await unwrap(api.GET("/v1/orgs/{org_id}/children", { params: { path: { org_id: id }, query: { limit: 500, cursor } } }));
    all.push(...r.items);
    cursor = r.next_cursor ?? undefined;
  } while (cursor);
  rememberNames(all);
  return all;
}

/** One node of the tree; its children are read when it is opened. */
function Node({ org, version, onSeen }: { org: Org; version: number; onSeen: (o: Org[]) => void }) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  return (
    <li>
      <span className="node">
        {org.kind !== "vendor" && (
          <button type="button" className="tree-toggle" aria-expanded={open} aria-label={t(open ? "vendor.collapse" : "vendor.expand", { name: org.name })} onClick={() => setOpen(!open)}>
            {open ? "▾" : "▸"}
          </button>
        )}
        <span className={`tag tag-${org.kind}`}>{t(`vendor.kinds.${org.kind}`)}</span> {org.name} <span className="muted">({org.org_id})</span>{" "}
        {org.kind === "company" && (
          <>
            <Link to={`/vendor/${encodeURIComponent(org.org_id)}/policy`} aria-label={t("vendor.editPolicy", { name: org.name })}>
              {t("vendor.policy")}
            </Link>{" "}
            <Link to={`/companies/${encodeURIComponent(org.org_id)}/licences`} aria-label={`${t("companies.manage")}: ${org.name}`}>
              {t("companies.manage")}
            </Link>
          </>
        )}
        {org.kind === "partner" && (
          <Link to={`/vendor/${encodeURIComponent(org.org_id)}/policy`} aria-label={t("vendor.editPolicy", { name: org.name })}>
            {t("vendor.policy")}
          </Link>
        )}
      </span>
      {open && <Children parent={org.org_id} version={version} onSeen={onSeen} />}
    </li>
  );
}

function Children({ parent, version, onSeen }: { parent: string; version: number; onSeen: (o: Org[]) => void }) {
  const { t } = useTranslation();
  const list = useLoad(async () => {
    const c = await childrenOf(parent);
    onSeen(c);
    return c;
  }, [parent, version]);
  if (list.loading && !list.data) return <Loading />;
  if (list.error) return <ErrorBox error={list.error} onRetry={list.reload} />;
  if (!list.data?.length) return <p className="muted">{t("common.empty")}</p>;
  return (
    <ul className="tree">
      {list.data.map((o) => (
        <Node key={o.org_id} org={o} version={version} onSeen={onSeen} />
      ))}
    </ul>
  );
}

/** The vendor's view: the org tree, creating partners and companies, each one's policy. */
export default function Vendor() {
  const { t } = useTranslation();
  const { own } = useOrg();
  const [version, setVersion] = useState(0);
  const [seen, setSeen] = useState<Record<string, Org>>({});
  const onSeen = (orgs: Org[]) => setSeen((s) => ({ ...s, ...Object.fromEntries(orgs.map((o) => [o.org_id, o])) }));
  // A partner or a company goes under the vendor or any org seen in the tree (a company may have departments).
  const parents = [{ org_id: own, name: own }, ...Object.values(seen).map((o) => ({ org_id: o.org_id, name: o.name }))];
  return (
    <>
      <h1>{t("vendor.title")}</h1>
      <section aria-labelledby="create-h">
        <h2 id="create-h">{t("vendor.create")}</h2>
        <CreateOrg parents={parents} kinds={["partner", "company"]} onCreated={() => setVersion((v) => v + 1)} />
      </section>
      <section aria-labelledby="tree-h">
        <h2 id="tree-h">{t("vendor.tree")}</h2>
        <ul className="tree">
          <li>
            <span className="node">
              <span className="tag tag-vendor">{t("vendor.kinds.vendor")}</span> {own}
            </span>
            <Children parent={own} version={version} onSeen={onSeen} />
          </li>
        </ul>
      </section>
    </>
  );
}
