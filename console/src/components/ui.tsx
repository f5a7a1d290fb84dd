import { type ReactNode, useId, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import type { TFunction } from "i18next";
import { ApiError, NetworkError } from "../api/client";
import { useFormat } from "../format";

/** An error worded by the console, in the user's language, from the API's code and details. */
/** A field the API names ("quantity", "contacts[0].receives"), in the reader's words. */
function fieldName(t: TFunction, field: string): string {
  const name = (f: string) => t(`errors.fields.${f}`, { defaultValue: f });
  const item = /^(\w+)\[(\d+)\]\.(\w+)$/.exec(field);
  if (item) return t("errors.fields.item", { list: name(item[1]), n: Number(item[2]) + 1, field: name(item[3]) });
  return name(field);
}

export function errorText(t: TFunction, e: unknown): string {
  if (e instanceof NetworkError) return t("errors.offline");
  if (e instanceof ApiError) {
    const d = e.details;
    const message = e.message;
    switch (e.code) {
      case "insufficient_licences":
        return t("errors.insufficient_licences", { needed: d.needed ?? "?", available: d.available ?? "?" });
      case "seat_limit_reached":
        return t("errors.seat_limit_reached", { limit: d.limit ?? "?", used: d.used ?? "?" });
      case "invalid_request":
        // The API's message names the line (or row) itself: "line 1: no e-mail column found; …".
        if (typeof d.line === "number") return t("errors.invalidLine", { line: d.line, message: message.replace(/^(line|row) \d+: /i, "") });
        if (typeof d.field === "string") {
          // The kind of problem, worded here; the API's English only where it names none.
          const problem = typeof d.problem === "string" ? t(`errors.problems.${d.problem}`, { ...d, defaultValue: "" }) : "";
          return t("errors.invalidField", { field: fieldName(t, d.field), message: problem || message.replace(`${d.field}: `, "") });
        }
        return t("errors.invalid_request", { message });
      case "conflict": {
        const reason = typeof d.reason === "string" ? t(`errors.reasons.${d.reason}`, { ...d, defaultValue: "" }) : "";
        return reason || t("errors.conflict", { message });
      }
      case "unauthenticated":
      case "forbidden":
      case "not_found":
      case "payload_too_large":
      case "unsupported_media_type":
      case "idempotency_mismatch":
      case "review_expired":
      case "unavailable":
      case "internal":
        return t(`errors.${e.code}`);
      default:
        return message;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

/** An error, worded; a lost connection (or a busy service) offers a retry. */
export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  if (!error) return null;
  const retryable = error instanceof NetworkError || (error instanceof ApiError && (error.status >= 500 || error.code === "unavailable"));
  return (
    <div role="alert" className="alert alert-error">
      <p>{errorText(t, error)}</p>
      {retryable && onRetry && (
        <button type="button" onClick={onRetry}>
          {t("common.retry")}
        </button>
      )}
    </div>
  );
}

export function Success({ children }: { children: ReactNode }) {
  return (
    <div role="status" className="alert alert-ok">
      {children}
    </div>
  );
}

export function Loading() {
  const { t } = useTranslation();
  return (
    <p role="status" className="muted">
      {t("common.loading")}
    </p>
  );
}

/** A percentage bar (0–100, drawn up to 100 and marked when over). */
export function Bar({ percent, label }: { percent: number; label: string }) {
  const f = useFormat();
  const shown = Math.max(0, Math.min(100, percent));
  return (
    <span className="bar-wrap">
      <span
        className={`bar${percent > 100 ? " bar-over" : percent >= 90 ? " bar-high" : ""}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(shown)}
        aria-valuetext={f.percent(percent)}
      >
        <span className="bar-fill" style={{ width: `${shown}%` }} />
      </span>
      <span className="bar-text">{f.percent(percent)}</span>
    </span>
  );
}

export function Pager({ page, hasPrev, hasNext, prev, next }: { page: number; hasPrev: boolean; hasNext: boolean; prev: () => void; next: () => void }) {
  const { t } = useTranslation();
  if (!hasPrev && !hasNext) return null;
  return (
    <nav className="pager" aria-label={t("common.page", { n: page })}>
      <button type="button" onClick={prev} disabled={!hasPrev}>
        {t("common.previous")}
      </button>
      <span>{t("common.page", { n: page })}</span>
      <button type="button" onClick={next} disabled={!hasNext}>
        {t("common.next")}
      </button>
    </nav>
  );
}

/** A labelled form field. */
export function Field({ label, children, hint }: { label: string; hint?: string; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id)}
      {hint && <small className="muted">{hint}</small>}
    </div>
  );
}

export function Switch({ checked, label, onChange, disabled }: { checked: boolean; label: string; onChange: (v: boolean) => void; disabled?: boolean }) {
  return (
    <button type="button" role="switch" aria-checked={checked} aria-label={label} className="switch" disabled={disabled} onClick={() => onChange(!checked)}>
      <span className="switch-knob" aria-hidden="true" />
    </button>
  );
}

/**
 * A row's menu (the help pages: "Click on 'three dots' located to the right of the order", the
 * company list's "Actions" button): a button that shows or hides its actions below it. Escape
 * closes it and gives the focus back to the button.
 */
export function Menu({ label, shown, children }: { label: string; shown: ReactNode; children: ReactNode }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  const button = useRef<HTMLButtonElement>(null);
  return (
    <span
      className="menu"
      onKeyDown={(e) => {
        if (e.key === "Escape" && open) {
          setOpen(false);
          button.current?.focus();
        }
      }}
    >
      <button ref={button} type="button" aria-expanded={open} aria-controls={id} aria-label={label} onClick={() => setOpen(!open)}>
        {shown}
      </button>
      {open && (
        <span id={id} className="menu-list">
          {children}
        </span>
      )}
    </span>
  );
}
