import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import en from "./en";
import nl from "./nl";

export const LANGUAGES = ["en", "nl"] as const;
export type Language = (typeof LANGUAGES)[number];
const KEY = "seatkeeper.lang";

/** The remembered choice, else the browser's language (Dutch or English). */
function initial(): Language {
  const saved = localStorage.getItem(KEY);
  if (saved === "en" || saved === "nl") return saved;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = l.toLowerCase().split("-")[0];
    if (base === "nl" || base === "en") return base;
  }
  return "en";
}

export function setLanguage(l: Language): void {
  localStorage.setItem(KEY, l);
  void i18n.changeLanguage(l);
}

i18n.on("languageChanged", (l) => {
  document.documentElement.lang = l;
});

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, nl: { translation: nl } },
  lng: initial(),
  fallbackLng: "en",
  interpolation: { escapeValue: false },
  returnNull: false,
});
document.documentElement.lang = i18n.language;

export default i18n;
