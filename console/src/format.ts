import { useTranslation } from "react-i18next";

/** Dates, numbers and percentages in the chosen language, through Intl. */
export function useFormat() {
  const { i18n } = useTranslation();
  const locale = i18n.language === "nl" ? "nl-NL" : "en-GB";
  const date = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
  const number = new Intl.NumberFormat(locale);
  const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
  const asDate = (v: string) => new Date(v.length === 10 ? `${v}T00:00:00Z` : v);
  return {
    locale,
    date: (v?: string | null) => (v ? date.format(asDate(v)) : "—"),
    dateTime: (v?: string | null) => (v ? `${dateTime.format(asDate(v))} UTC` : "—"),
    number: (n?: number | null) => (n == null ? "—" : number.format(n)),
    /** `p` is a percentage as the API gives it (0–100+). */
    percent: (p?: number | null) => (p == null ? "—" : percent.format(p / 100)),
  };
}

/** The end of `day` (YYYY-MM-DD) as the console shows dates: in UTC. */
export const endOfDay = (day: string) => `${day}T23:59:59Z`;
