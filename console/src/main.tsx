import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "./i18n";
import "./style.css";
import { App } from "./App";
import { loadConfig } from "./config";
import { signIn } from "./auth/session";

/** `/#token=<jwt>` signs in with a given token, only when the server says it is the local one. */
async function tokenFromHash(): Promise<void> {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, "", location.pathname + location.search);
  try {
    const config = await loadConfig();
    if (config.mode === "local") signIn(decodeURIComponent(m[1]));
  } catch {
    // no config: the app shows why
  }
}

void tokenFromHash().finally(() => {
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
});
